import io

from skconvex.utils._progress import ProgressLogger


def test_progress_lines_and_bar():
    buf = io.StringIO()
    log = ProgressLogger("demo", verbose=1, tol=1e-6, stream=buf)
    log.iteration(1, objective=2.0, measure=1.0, step=0.5)
    log.iteration(2, objective=1.0, measure=1e-3)
    log.iteration(3, objective=0.5, measure=1e-6)
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("[demo] iter")
    assert "  0%" in lines[1] and " 50%" in lines[2] and "100%" in lines[3]


def test_silent_when_not_verbose():
    buf = io.StringIO()
    log = ProgressLogger("demo", verbose=0, tol=1e-6, stream=buf)
    log.iteration(1, objective=1.0, measure=0.1)
    log.message("hello")
    assert buf.getvalue() == ""
