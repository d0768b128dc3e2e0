"""A short, small load test against a server it starts itself: the invariants hold.

No timing assertions: the machine running the suite may be slow or busy.  Everything the
scenario can throw is turned up (retries, forged webhooks, parks, breaks, dropped
connections, customers on two channels) so each path is crossed at least a few times.
"""

from __future__ import annotations

import json

import pytest

from switchboard.loadtest.run import main

CONTRACT_KEYS = {
    "sent", "delivered_to_agents", "lost", "duplicated", "capacity_violations", "msgs_per_s",
    "latency_ms",
}  # fmt: skip


@pytest.mark.slow
def test_short_load_test_loses_duplicates_and_overfills_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main([
        "--seconds", "5", "--rate", "15", "--agents", "3", "--capacity", "3",
        "--handle-time", "3", "--think-time", "0.5", "--messages", "3", "--gap", "0.7",
        "--park-share", "0.4", "--return-after", "0.5", "--duplicate-share", "0.2",
        "--bad-signature-share", "0.2", "--two-channel-share", "0.3",
        "--away-every", "3", "--away-for", "0.5", "--drop-every", "3",
        "--drain", "30", "--seed", "3", "--json",
    ])  # fmt: skip
    out, err = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert result.keys() >= CONTRACT_KEYS
    assert set(result["latency_ms"]) == {"p50", "p95", "p99"}
    assert result["sent"] > 0
    assert result["lost"] == 0, err
    assert result["duplicated"] == 0, err
    assert result["capacity_violations"] == 0, err
    assert result["delivered_to_agents"] == result["accepted"]
    assert result["bad_signature_accepted"] == result["unsigned_delivered"] == 0
    assert result["dedupe_failures"] == 0
    assert result["ok"] is True
    assert code == 0
    assert "erlang_c" not in result


@pytest.mark.slow
def test_short_erlang_run_reports_prediction_and_measurement(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["--erlang", "--seconds", "4", "--rate", "5", "--agents", "4",
                 "--handle-time", "0.5", "--warmup", "1", "--json"])  # fmt: skip
    out, _ = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    erlang = result["erlang_c"]
    assert {"predicted_p_wait", "measured_p_wait", "predicted_asa_s", "measured_asa_s"} <= set(
        erlang
    )
    assert erlang["predicted_p_wait"] == pytest.approx(0.3199, abs=1e-3)  # A = 2.5, N = 4
    assert 0 <= erlang["measured_p_wait"] <= 1
    assert erlang["measured_asa_s"] >= 0
    # the control-variate estimate is the prediction moved by what the server added
    excess = erlang["measured_p_wait"] - erlang["ideal_p_wait"]
    assert erlang["server_p_wait_excess"] == pytest.approx(excess, abs=2e-4)
    assert erlang["cv_p_wait"] == pytest.approx(erlang["predicted_p_wait"] + excess, abs=2e-4)
    assert result["capacity_violations"] == result["lost"] == result["duplicated"] == 0
    assert result["peak_chats_per_agent"] <= 1
    assert code == 0
