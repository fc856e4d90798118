"""modeling.store: saving with a card, hash-verified loading."""

import joblib
import pytest
from small_models import TARGET, fitted

from music_genre.core.errors import ModelIntegrityError
from music_genre.core.fileio import sha256_file
from music_genre.modeling.store import load_model, save_model


def test_load_verifies_the_hash_before_unpickling(tmp_path, synthetic_prepared):
    path = tmp_path / "model.joblib"
    save_model(fitted(synthetic_prepared), {"note": "test"}, path)
    loaded, card = load_model(path)
    assert card["model_sha256"] == sha256_file(path) and card["note"] == "test"
    assert list(loaded.classes_) == sorted(synthetic_prepared[TARGET].unique())

    joblib.dump({"swapped": True}, path)
    with pytest.raises(ModelIntegrityError, match=r"does not match .*refusing to unpickle"):
        load_model(path)
