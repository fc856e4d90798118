"""modeling.figures: PNG pictures of the evaluation, drawn without a display."""

import io

from PIL import Image

from music_genre.modeling.figures import confusion_matrix_figure, feature_importance_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png(figure) -> Image.Image:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue().startswith(PNG_SIGNATURE)
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_confusion_matrix_rows_are_normalised_and_every_class_is_labelled():
    classes = ["Pop", "Rap", "techno"]
    truth = ["Pop", "Pop", "Rap", "techno", "techno", "techno"]
    predicted = ["Pop", "Rap", "Rap", "techno", "Pop", "techno"]
    figure = confusion_matrix_figure(truth, predicted, classes)
    axes = figure.axes[0]
    assert [label.get_text() for label in axes.get_yticklabels()] == classes
    # normalize="true": each row of the matrix sums to 1 (Pop: 0.50 + 0.50).
    shown = sorted(text.get_text() for text in axes.texts)
    assert shown.count("0.50") == 2 and shown.count("1.00") == 1 and shown.count("0.67") == 1
    assert _png(figure).size == (1100, 1000)


def test_feature_importances_are_drawn_largest_on_top_with_their_measure():
    importances = [("tempo", 0.5), ("energy", 0.3), ("key", 0.2)]
    figure = feature_importance_figure(importances, "share of the splits' total gain")
    axes = figure.axes[0]
    assert [label.get_text() for label in axes.get_yticklabels()] == ["key", "energy", "tempo"]
    assert [bar.get_width() for bar in axes.patches] == [0.2, 0.3, 0.5]
    assert axes.get_xlabel() == "share of the splits' total gain"
    # The figure grows with the number of bars, so names never overlap.
    taller = feature_importance_figure(importances * 4, "x")
    assert _png(taller).size[1] > _png(figure).size[1]
