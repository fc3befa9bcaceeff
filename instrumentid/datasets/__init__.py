"""Feature data sets, all stored in the lab's UIowa layout.

- :mod:`instrumentid.datasets.base`: the :class:`~instrumentid.datasets.base.FeatureDataset` container, its on-disk
  layout, the one validated loader, the one cache and the one worker pool of the builders.
- :mod:`instrumentid.datasets.uiowa`: the lab's four ``.npy`` files, and the description the lab prints.
- :mod:`instrumentid.datasets.render`: the installed General-MIDI SoundFonts, and notes and phrases rendered from them.
- :mod:`instrumentid.datasets.variation`: the variation of a real recording, given to rendered notes.
- :mod:`instrumentid.datasets.soundfont`: the default data set: class maps, the plan of notes, the build, the splits.
- :mod:`instrumentid.datasets.folder`: a data set from your own folder of audio files.
"""
