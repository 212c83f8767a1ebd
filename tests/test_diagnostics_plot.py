"""``diagnostics.png`` is drawn on a pyplot-free ``Figure``: hyperfit-train leaves the caller's matplotlib backend (a
notebook's that calls ``train()``, say) as it was, and never loads pyplot. (The PNG is byte for byte the one the pyplot
version drew on these rows: checked once when it changed, commit message.)"""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap


def test_plot_rows_leaves_the_callers_backend_alone(tmp_path):
    probe = textwrap.dedent(f"""
        import sys, matplotlib
        matplotlib.use("svg")  # the caller's choice
        from hyperfit_train.diagnostics import plot_rows
        rows = [{{"epoch": e, "train_loss": 3.0 / (e + 1), "heldout_perplexity": 30.0 + 40 * e,
                 "top1_prob": 0.3 + 0.02 * e, "entropy": 3.5 - 0.1 * e, "ttr": 0.2, "ttr_last96": 0.15 + 0.02 * e,
                 "rep_4": None}} for e in range(4)]
        plot_rows(rows, {str(tmp_path / "diagnostics.png")!r}, "tiny - preset paper")
        print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout.split()
    assert out == ["svg", "False"]
    png = (tmp_path / "diagnostics.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1300, 700)  # 13 x 7 in at 100 dpi
    assert [path.name for path in tmp_path.iterdir()] == ["diagnostics.png"]  # written atomically, no temporary left
