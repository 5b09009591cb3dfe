"""Deep-network image features: the backbone registry, image decoding and transforms, sharded
extraction to Zarr and the reader that sees the shards as one matrix.
"""
