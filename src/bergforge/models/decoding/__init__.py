"""Decoders: a brain response → an image embedding (→ which image was seen). The ``fmri_mlp``
kind (:mod:`.kind`, fit job :mod:`.job`, weights and decoding :mod:`.weights`), its network
(:mod:`.network`), CLIP loss and in-batch retrieval metrics (:mod:`.loss`), settings
(:mod:`.settings`) and training loop (:mod:`.train`); the pooled trials and targets of every
decoding fit (:mod:`.data`) and the ``model.json`` both decoding kinds write (:mod:`.record`).
The MEG/EEG ``SimpleConvTimeAgg`` network (:mod:`.simple_conv`), its settings
(:mod:`.simple_conv_settings`) and its training through the same loop (:mod:`.simple_conv_train`)
are not a registered kind yet."""
