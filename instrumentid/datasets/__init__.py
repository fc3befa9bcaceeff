"""Feature data sets, all stored in the lab's UIowa layout.

- :mod:`instrumentid.datasets.base`: the :class:`FeatureDataset` container and its on-disk layout.
- :mod:`instrumentid.datasets.uiowa`: the lab's four ``.npy`` files, validated.
- :mod:`instrumentid.datasets.soundfont`: the default data set, rendered from General-MIDI SoundFonts.
- :mod:`instrumentid.datasets.folder`: a data set from your own folder of audio files.
"""
