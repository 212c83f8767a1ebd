"""``hyperfit-demo --help`` and ``hyperfit-reproduce --help`` say how long they take and where they write."""

from __future__ import annotations

import pytest

from hyperfit_tasks.cli import demo, reproduce


@pytest.mark.parametrize(
    ("module", "times"),
    [
        (demo, ("about 50 min", "50 min 10 s")),  # README: the demo from a clean clone, a fresh .venv included
        (reproduce, ("54 min 18 s", "5 s measured")),  # README and docs/reproduce.md: a clean clone, then a re-run
    ],
)
def test_help_names_the_time_and_the_default_output_folder(module, times, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping: argparse may break a long line at a hyphen
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    parser = module.make_parser()
    epilog = " ".join(parser.epilog.split())
    assert epilog in shown
    for time in times:
        assert time in epilog
    default = parser.get_default("output_dir")
    assert f"--output-dir (default: {default})" in epilog
    assert f"--output-dir OUTPUT_DIR where every step writes (default: {default})" in shown
