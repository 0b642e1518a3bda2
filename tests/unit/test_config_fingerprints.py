"""Fingerprints survive config refactors: the same avp.toml gives the same generation parameters
and the same config hashes as before (values computed on main before the pydantic rewrite)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from avp_harness.collect.plan import config_hash
from avp_harness.config import config_from_dict, template
from avp_harness.types import canonical_json, sha256_hex

CONFIGS: dict[str, Any] = {
    "template": tomllib.loads(template()),
    "params": {
        "providers": {"local": {"base_url": "http://127.0.0.1:8000/v1"}},
        "models": [
            {"id": "a", "provider": "local"},
            {"id": "b", "provider": "openrouter", "model": "x/y", "temperature": 0.7,
             "max_tokens": 512, "reasoning_effort": "high",
             "extra_body": {"provider": {"order": ["groq"], "allow_fallbacks": False},
                            "top_p": 0.9}},
            {"id": "c", "provider": "openai", "temperature": 1,
             "extra_body": {"verbosity": "low", "n": 1}},
        ],
        "judge": {"id": "j", "provider": "openai", "max_tokens": 4096},
    },
}  # fmt: skip

# (config, model id) -> (sha256 of generation_params(), config_hash for arc_agi version "3")
EXPECTED = {
    ("template", "openai/gpt-5-mini"): (
        "49e45deca66a47f84658e6be5f8a5c36f62642d8b3e6999fbd00997d72ad312c",
        "e7d0103841a6ef479fb804b7943e36a6",
    ),
    ("template", "google/gemini-2.5-flash"): (
        "4a6989b65b9f70c213e9449e4733a299bbca8ea915101070976d136da51aee50",
        "03e68b95ea75825c1c7446c9620db117",
    ),
    ("template", "deepseek/deepseek-chat-v3.1"): (
        "ba2adf9d626903879e94095b4b7785bfc0226af2824c3da24101877b6a2e5a28",
        "cb900c7825de2b31be64f4d59db21d60",
    ),
    ("template", "openai/gpt-4.1-mini"): (
        "4944e1e545a1d956244adbc66fcc24ec0ea91afef4cf49905ab2a42201af9310",
        "72637d20d3ec5a343d1c3d434c179c36",
    ),
    ("params", "a"): (
        "cd399c22c09c5380b05556286b0809764084326d643ac852c05973e27d54256b",
        "86816be4baed296e7d1ec4f48450d98f",
    ),
    ("params", "b"): (
        "581ab2393b8fa1202af04c2e9f381af9a620f88fb50ba7e7b5fb294b2a85de47",
        "197b679cc64936c9ebadffba70798792",
    ),
    ("params", "c"): (
        "ff686505285331cf5aaec4863be74bb1d95eacdbe5b969cbc14148b5258cdd55",
        "667708a3a4d4e64291f68dadadf365ed",
    ),
    ("params", "j"): (
        "db8bf23af35f66d378c5f404b6e0223e6be71c54e13eab25a6fdd223f0577d08",
        "e932508d3bf469a4ea2719fd69c1fdd8",
    ),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_generation_params_and_config_hashes_are_unchanged(name: str) -> None:
    config = config_from_dict(CONFIGS[name], None, env={})
    models = [*config.models, *([config.judge] if config.judge else [])]
    got = {
        (name, m.id): (
            sha256_hex(canonical_json(m.generation_params())),
            config_hash(m, config.provider_for(m), "arc_agi", "3"),
        )
        for m in models
    }
    assert got == {key: value for key, value in EXPECTED.items() if key[0] == name}
