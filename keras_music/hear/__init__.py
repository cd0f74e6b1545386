"""HEAR 2021 common API, one module per model (HEAR loads one by name).

`keras_music.hear.maest`, `keras_music.hear.s3t`, `keras_music.hear.clmr`
and `keras_music.hear.pase_plus` each expose `load_model(model_file_path=
"")`, `get_scene_embeddings(audio, model)` and
`get_timestamp_embeddings(audio, model)`; the model has `sample_rate`,
`scene_embedding_size` and `timestamp_embedding_size`. Each module's
docstring gives its window and timestamp hop.

Reference:
    Turian et al., "HEAR: Holistic Evaluation of Audio Representations",
    NeurIPS 2021 Competitions and Demonstrations Track (the common API).
"""
