"""The README's Python examples run as written (they are the first API users see)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_examples_run(monkeypatch, tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile("\n".join(blocks), str(README), "exec"), namespace)  # noqa: S102
    assert namespace["geo"].status == "Solved"
    # the model() example's limit binds: the capped d² exceeds the free one, as stated
    import wfr_cvx

    free = wfr_cvx.distance(namespace["a"], namespace["b"], namespace["g"], lam=0.3) ** 2
    assert namespace["capped"].value > free * 1.01
    assert abs(namespace["capped"].value - 0.07022) < 1e-5 and abs(free - 0.06906) < 1e-5
    # the saving example: the round trip and the new solve
    back, geo = namespace["back"], namespace["geo"]
    assert (back.rho == geo.rho).all() and back.grid == geo.grid
    assert namespace["same"].distance2 == geo.distance2
    assert abs(namespace["again"].distance2 - geo.distance2) <= 1e-9 * geo.distance2
