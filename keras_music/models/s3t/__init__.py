"""S3T: a CQT, Time Folding or Frequency Tiling, and a Swin Transformer."""

from keras_music.models.s3t.s3t_backbone import S3TBackbone
