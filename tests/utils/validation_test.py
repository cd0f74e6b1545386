from keras_music.layers import validation as layers_validation
from keras_music.utils import validation


def test_old_import_path_re_exports_the_same_checks():
    names = [n for n in dir(validation) if n.startswith("check_")]
    assert names
    assert sorted(layers_validation.__all__) == sorted(names)
    for name in names:
        assert getattr(layers_validation, name) is getattr(validation, name)
