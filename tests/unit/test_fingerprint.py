"""caffe_workflow.fingerprint: the one stat-and-hash fingerprint of the stages
and of the Snakefile's batch trigger."""

import os

from caffe_workflow.fingerprint import fingerprint, stat_token
from caffe_workflow.stages import evaluate, process

NS = 1_700_000_000_000_000_000


def _file(path, data=b"12345", ns=NS):
    path.write_bytes(data)
    os.utime(path, ns=(ns, ns))
    return path


def test_known_value_is_the_one_rows_store(tmp_path):
    """Rows of earlier runs store this text's hash: a different text would
    redo every image once (the value was computed by the stages' earlier,
    separate implementation)."""
    a = _file(tmp_path / "a.png")
    gone = tmp_path / "missing.png"
    assert fingerprint((a, gone, a, gone), 7, 256) == "23db40cd06d2df1e"
    assert stat_token(a) == f"5:{NS}"
    assert stat_token(gone) == stat_token(None) == "missing"


def test_every_change_of_a_file_changes_it(tmp_path):
    a = _file(tmp_path / "a.png")
    before = fingerprint([a], 1)
    assert fingerprint([a], 1) == before
    _file(a, ns=NS + 1)
    assert fingerprint([a], 1) != before  # touched
    touched = fingerprint([a], 1)
    _file(a, data=b"123456", ns=NS + 1)
    assert fingerprint([a], 1) != touched  # same mtime, other size
    a.unlink()
    assert fingerprint([a], 1) == fingerprint([None], 1)  # removed


def test_salt_and_names(tmp_path):
    a, b = _file(tmp_path / "a.png"), _file(tmp_path / "b.png")
    assert fingerprint([a], 1) != fingerprint([a], 2)
    # Same sizes and mtimes: equal unless the names count.
    assert fingerprint([a]) == fingerprint([b])
    assert fingerprint([a], named=True) != fingerprint([b], named=True)
    assert len(fingerprint([a], length=40)) == 40


def test_the_stages_use_it(tmp_path):
    a = _file(tmp_path / "a.png")
    gone = tmp_path / "missing.png"
    assert process.fingerprint(a, gone, a, gone, 256) == fingerprint(
        (a, gone, a, gone), process.OUTPUT_VERSION, 256
    )
    assert evaluate.fingerprint(a, a, None, gone) == fingerprint(
        (a, a, None, gone), evaluate.EVALUATION_VERSION
    )
