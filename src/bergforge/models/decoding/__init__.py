"""Decoders: a brain response → an image embedding (→ which image was seen). ``fmri_mlp``'s
network (:mod:`.network`), its CLIP loss and in-batch retrieval metrics (:mod:`.loss`), settings
(:mod:`.settings`) and training loop (:mod:`.train`). Not yet a registered model kind."""
