"""Decoders: a brain response → an image embedding (→ which image was seen). ``fmri_mlp``'s
network (:mod:`.network`), its CLIP loss and in-batch retrieval metrics (:mod:`.loss`), settings
(:mod:`.settings`) and training loop (:mod:`.train`); the MEG/EEG ``SimpleConvTimeAgg`` network
(:mod:`.simple_conv`), its settings (:mod:`.simple_conv_settings`) and its training through the
same loop (:mod:`.simple_conv_train`). Not yet registered model kinds."""
