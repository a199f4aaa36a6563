from rmens_utils import lesson, training


def test_show_prints_the_package_source(capsys):
    lesson.show(training.bradley_terry_loss)
    out = capsys.readouterr().out
    assert out.startswith("def bradley_terry_loss(") and "logsigmoid" in out
    assert lesson.source(training.bradley_terry_loss) in out
