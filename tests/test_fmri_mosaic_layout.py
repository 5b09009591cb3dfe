"""The exported CNN8 weights are a MOSAIC checkpoint: the mosaic package (what BERG calls) loads
them strictly and predicts what bergforge predicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bergforge.errors import ModelLoadError
from bergforge.export.fmri import export_weights
from bergforge.export.fmri_names import WEIGHTS_NAME
from bergforge.models.cnn8.checkpoint import load_multihead
from bergforge.models.cnn8.mosaic_layout import from_mosaic, to_mosaic
from bergforge.models.cnn8.network import MultiHeadEncoder, core_output_size
from bergforge.models.folder_checksums import seal_model_folder

HEADS = ("sub-01_NSD", "sub-02_NSD")


def random_model(width: int, input_size: int, n_vertices: int, seed: int = 0) -> MultiHeadEncoder:
    """A small encoder with every parameter and batch-norm statistic drawn at random."""
    torch.manual_seed(seed)
    model = MultiHeadEncoder(dict.fromkeys(HEADS, n_vertices), width, input_size)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            tensor.copy_(
                torch.rand_like(tensor) + 0.5
                if "running_var" in name
                else torch.randn_like(tensor) * 0.1
            )
    return model.eval()


def test_layout_round_trip_and_names():
    model = random_model(width=8, input_size=40, n_vertices=5)
    mosaic_state = to_mosaic(model.state_dict())
    assert "module.core.block1.0.weight" in mosaic_state  # conv1
    assert "module.core.block8.1.running_var" in mosaic_state  # BN of block 8
    assert "module.subject_readouts.sub-02_NSD._features" in mosaic_state
    assert all(
        k.startswith(("module.core.block", "module.subject_readouts.")) for k in mosaic_state
    )
    back = from_mosaic(mosaic_state)
    assert back.keys() == model.state_dict().keys()
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ModelLoadError, match="'module.head.weight' is not part of a MOSAIC CNN8"):
        from_mosaic({"module.head.weight": torch.zeros(1)})


def test_mosaic_package_loads_the_layout_and_predicts_the_same():
    from mosaic.models import architectures
    from mosaic.models.readout import SpatialXFeatureLinear

    width, size, n = 8, 40, 6
    ours = random_model(width, size, n)
    side = core_output_size(size)
    theirs = architectures.EncoderMultiHead(
        core=architectures.C8NonSteerableCNN(n_feats=width // 8),
        readout_class=SpatialXFeatureLinear,
        subjectID2idx={h: k for k, h in enumerate(HEADS)},
        in_shape=(width, side, side),
        outdims=n,
        bias=True,
        normalize=True,
        init_noise=1e-3,
        constrain_pos=False,
        positive_weights=False,
        positive_spatial=False,
    )
    wrapped = nn.DataParallel(theirs)
    wrapped.load_state_dict(to_mosaic(ours.state_dict()), strict=True)
    theirs.eval()
    images = torch.randn(3, 3, size, size)
    with torch.no_grad():
        out = theirs(images, names_and_subjects={"NaturalScenesDataset": [1, 2]})
        for k, head in enumerate(HEADS, start=1):
            expected = ours(images, head)
            got = out["NaturalScenesDataset"][f"sub-{k:02d}"]
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_exported_file_loads_back_with_the_recorded_input_size(tmp_path):
    model = random_model(width=8, input_size=40, n_vertices=4)
    trained = tmp_path / "model" / "model.pt"
    trained.parent.mkdir()
    torch.save(
        {"config": {"width": 8, "input_size": 40}, "state_dict": model.state_dict()}, trained
    )
    seal_model_folder(trained.parent)  # as the fit job does after the kind's fit
    out = tmp_path / "encoding_models_weights" / WEIGHTS_NAME
    export_weights(trained, out)
    assert list(out.parent.iterdir()) == [out]  # no temporary file left
    plain = torch.load(out, weights_only=True)
    assert "config" not in plain and "module.core.block1.0.weight" in plain
    loaded, config = load_multihead(out, input_size=40)
    assert config == {"width": 8, "input_size": 40}
    images = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        np.testing.assert_array_equal(
            loaded(images, HEADS[0]).numpy(), model(images, HEADS[0]).numpy()
        )


def test_mosaic_from_pretrained_loads_a_real_size_export(tmp_path):
    """What BERG does with the exported folder: 8 NSD heads × 57,051 vertices, 384 channels, 224 px
    (a 2 GB file; about 30 s and 7 GB of memory)."""
    import mosaic

    torch.manual_seed(0)
    heads = {f"sub-{s:02d}_NSD": 57_051 for s in range(1, 9)}
    ours = MultiHeadEncoder(heads, width=384, input_size=224).eval()
    image = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = ours(image, "sub-03_NSD")
    trained = tmp_path / "model" / "model.pt"
    trained.parent.mkdir()
    torch.save(
        {"config": {"width": 384, "input_size": 224}, "state_dict": ours.state_dict()}, trained
    )
    seal_model_folder(trained.parent)  # as the fit job does after the kind's fit
    del ours
    folder = tmp_path / "encoding_models_weights"
    export_weights(trained, folder / WEIGHTS_NAME)
    trained.unlink()
    theirs = mosaic.from_pretrained("CNN8", "multihead", "NSD", "all", folder=str(folder))
    with torch.no_grad():
        got = theirs(image, names_and_subjects={"NaturalScenesDataset": [3]})
    torch.testing.assert_close(
        got["NaturalScenesDataset"]["sub-03"], expected, rtol=1e-4, atol=1e-9
    )
