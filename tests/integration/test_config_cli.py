"""`avp init` and `avp models add|list`, end to end through the CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from avp_harness.cli import main
from avp_harness.config import load_config, template

AVP = Path(sys.executable).with_name("avp")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own folder with no config-related environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("AVP_CONFIG", "AVP_BUDGET", "AVP_DB", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("avp: error: ")
    return lines[0]


def test_init_writes_the_template_and_says_what_next(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "init")
    assert (code, err) == (0, "")
    assert (tmp_path / "avp.toml").read_text(encoding="utf-8") == template()
    assert "wrote avp.toml" in out and "avp run" in out and "OPENROUTER_API_KEY" in out
    assert len(load_config().models) == 3


def test_init_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "avp.toml"
    path.write_text("# mine\n", encoding="utf-8")
    code, out, err = run(capsys, "init")
    assert (code, out) == (2, "")
    assert "avp.toml: already exists; use --force" in one_error_line(err)
    assert path.read_text(encoding="utf-8") == "# mine\n"
    code, out, err = run(capsys, "init", "--force")
    assert (code, err) == (0, "")
    assert path.read_text(encoding="utf-8") == template()


def test_init_path_creates_folders_and_honours_avp_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(capsys, "init", "--path", "lab/exp1/avp.toml")
    assert code == 0 and "lab/exp1/avp.toml" in out
    assert (tmp_path / "lab" / "exp1" / "avp.toml").is_file()
    monkeypatch.setenv("AVP_CONFIG", str(tmp_path / "env.toml"))
    assert run(capsys, "init")[0] == 0
    assert (tmp_path / "env.toml").is_file() and not (tmp_path / "avp.toml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env.toml", "lab"]


def test_init_into_a_folder_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dir.toml").mkdir()
    code, _, err = run(capsys, "init", "--path", "dir.toml", "--force")
    assert code == 2 and "is a folder" in one_error_line(err)


def test_models_add_then_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "init")[0] == 0
    original = (tmp_path / "avp.toml").read_text(encoding="utf-8")
    code, out, err = run(
        capsys,
        "models", "add", "anthropic/claude-sonnet-4.5",
        "--provider", "openrouter",
        "--price-in", "3", "--price-out", "15", "--price-cached-in", "0.3",
        "--price-date", "2025-10-01",
        "--temperature", "0.5", "--max-tokens", "4096", "--reasoning-effort", "medium",
        "--extra-body", '{"provider": {"order": ["anthropic"]}}',
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "added anthropic/claude-sonnet-4.5 to avp.toml" in out
    assert (tmp_path / "avp.toml").read_text(encoding="utf-8").startswith(original)

    code, out, err = run(capsys, "models", "list", "--json")
    assert (code, err) == (0, "")
    listed = json.loads(out)
    assert [m["id"] for m in listed][-1] == "anthropic/claude-sonnet-4.5"
    assert listed[-1] == {
        "id": "anthropic/claude-sonnet-4.5",
        "provider": "openrouter",
        "model": "anthropic/claude-sonnet-4.5",
        "temperature": 0.5,
        "max_tokens": 4096,
        "reasoning_effort": "medium",
        "extra_body": {"provider": {"order": ["anthropic"]}},
        "price": {
            "input_per_m": 3.0,
            "output_per_m": 15.0,
            "cached_input_per_m": 0.3,
            "date": "2025-10-01",
        },
    }

    monkeypatch.setenv("COLUMNS", "300")  # wide enough that no cell wraps
    code, out, err = run(capsys, "models", "list")
    assert (code, err) == (0, "")
    for expected in (
        "anthropic/claude-sonnet-4.5",
        "openai/gpt-5-mini",
        "effort medium",
        "3 / 15 (cached 0.3) @ 2025-10-01",
        "judge: openai/gpt-4.1-mini",
    ):
        assert expected in out


def test_models_add_with_an_api_model_name_and_a_local_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "avp.toml"
    path.write_text("[providers.vllm]\nbase_url = 'http://localhost:8000/v1'\n", encoding="utf-8")
    code, _, err = run(
        capsys, "models", "add", "local/qwen", "--provider", "vllm", "--model", "Qwen/Qwen2.5-7B"
    )
    assert (code, err) == (0, "")
    model = load_config(path).model("local/qwen")
    assert (model.provider, model.model, model.price) == ("vllm", "Qwen/Qwen2.5-7B", None)
    code, out, _ = run(capsys, "models", "list", "--config", str(path))
    assert code == 0 and "Qwen/Qwen2.5-7B" in out and "unknown" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--provider", "nowhere"], "avp.toml: models[3].provider: unknown provider 'nowhere'"),
        (["--provider", "openrouter", "--temperature", "9"], "models[3].temperature"),
        (["--provider", "openrouter", "--price-in", "1"], "--price-out: required when any"),
        (["--provider", "openrouter", "--price-in", "-1", "--price-out", "1"],
         "models[3].price.input_per_m: must be >= 0"),
        (["--provider", "openrouter", "--price-in", "1", "--price-out", "1", "--price-date", "x"],
         "models[3].price.date: must be an ISO date"),
        (["--provider", "openrouter", "--extra-body", "{nope"], "--extra-body: not valid JSON"),
        (["--provider", "openrouter", "--extra-body", "[1]"],
         "--extra-body: must be a JSON object"),
        (["--provider", "openrouter", "--extra-body", '{"stream": true}'],
         "models[3].extra_body.stream: set by the harness"),
    ],
)  # fmt: skip
def test_models_add_user_errors_are_one_line_and_leave_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(capsys, "init")[0] == 0
    before = (tmp_path / "avp.toml").read_bytes()
    code, out, err = run(capsys, "models", "add", "new/model", *argv)
    assert (code, out) == (2, "")
    assert message in one_error_line(err)
    assert (tmp_path / "avp.toml").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["avp.toml"]


def test_models_add_duplicate_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "init")[0] == 0
    code, _, err = run(capsys, "models", "add", "openai/gpt-5-mini", "--provider", "openai")
    assert code == 2
    assert "'openai/gpt-5-mini' already exists" in one_error_line(err)


def test_models_commands_without_a_config(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["models", "list"], ["models", "add", "m", "--provider", "openai"]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, "")
        assert "avp.toml: config file not found (create one with `avp init`)" in one_error_line(err)


def test_models_list_reports_a_broken_config_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "avp.toml").write_text("[[models]]\nid = 'a'\nprovider = 'openai'\nx = 1\n")
    code, _, err = run(capsys, "models", "list")
    assert code == 2 and "avp.toml: models[0].x: unknown key" in one_error_line(err)


def test_models_list_with_no_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "avp.toml").write_text("budget = 1.0\n")
    code, out, _ = run(capsys, "models", "list")
    assert code == 0 and "no models in avp.toml" in out and "avp models add" in out
    assert run(capsys, "models", "list", "--json")[1] == "[]\n"


@pytest.mark.parametrize(
    "argv",
    [["init"], ["models"], ["models", "add"], ["models", "list"]],
)
def test_help_texts_carry_examples(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "avp " + argv[0] in out


def test_models_needs_an_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["models"])
    assert info.value.code == 2
    assert "ACTION" in capsys.readouterr().err


def test_installed_avp_script_end_to_end(tmp_path: Path) -> None:
    """The real console script, in a subprocess: init, add, list --json."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def avp(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AVP), *argv], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )

    assert avp("init").returncode == 0
    again = avp("init")
    assert again.returncode == 2 and again.stdout == ""
    assert again.stderr.count("\n") == 1 and "Traceback" not in again.stderr
    assert avp("models", "add", "meta/llama", "--provider", "openrouter").returncode == 0
    listed = avp("models", "list", "--json")
    assert listed.returncode == 0
    assert [m["id"] for m in json.loads(listed.stdout)][-1] == "meta/llama"


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-0.01", "five"])
def test_run_refuses_a_budget_the_config_would_refuse(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--budget -1` and `--budget nan` were accepted on the command line (refused in avp.toml
    and $AVP_BUDGET): one line, exit 2, before anything is read or called."""
    with pytest.raises(SystemExit) as exited:
        main(["run", f"--budget={value}"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "argument --budget" in err.splitlines()[-1] and value in err.splitlines()[-1]
