"""schemathesis against gunicorn: every operation of the schema, bounded in examples and time, with its checks on.

Any 5xx, undocumented status, content type, header or body that does not match the
schema fails the run. One check is off: `positive_data_acceptance`, which expects any
schema-valid body to be accepted, while Switchboard also refuses what no schema says
(a topic that does not exist, a JSON null payload, a deliver_at beyond a year).
"""

import subprocess
from pathlib import Path

from tests.harness.processes import VENV_BIN
from tests.harness.stack import WebServer

MAX_EXAMPLES = "5"


def test_the_api_answers_as_its_schema_says(web: WebServer, api_key: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(VENV_BIN / "schemathesis"), "run", f"{web.base_url}/api/schema/",
            "--header", f"Authorization: Bearer {api_key}",
            "--checks", "all", "--exclude-checks", "positive_data_acceptance",
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", MAX_EXAMPLES, "--workers", "1",
            "--suppress-health-check", "all", "--seed", "1",
        ],
        cwd=tmp_path,  # its cache (.schemathesis/) stays out of the repository
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "Tested: " in done.stdout
