"""Enterprise knowledge: BM25 (rank-bm25) over the team's markdown runbooks, architecture notes
and alert descriptions, split into sections so a hit is a paragraph, not a whole file."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from rank_bm25 import BM25Okapi

from opsagent.tools.base import Args, Risk, Tool, ToolResult
from opsagent.tools.context import ToolContext

SHIPPED = Path(__file__).parent / "knowledge"
_WORD = re.compile(r"[a-z0-9_]+")


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


@lru_cache(maxsize=8)
def _index(directory: Path) -> tuple[list[tuple[str, str, str]], BM25Okapi]:
    sections: list[tuple[str, str, str]] = []  # (file, heading, text)
    for path in sorted(directory.glob("*.md")):
        title, heading, body = "", "", []
        for line in [*path.read_text().splitlines(), "## "]:  # a sentinel heading closes the last
            if line.startswith("# "):
                title = line[2:].strip()
            elif line.startswith("## "):
                if body:
                    sections.append((path.name, f"{title} / {heading}" if heading else title,
                                     "\n".join(body)))
                heading, body = line[3:].strip(), []
            elif line.strip():
                body.append(line)
    if not sections:
        raise FileNotFoundError(f"no markdown documents in {directory}")
    return sections, BM25Okapi([_tokens(h + " " + t) for _, h, t in sections])


class Query(Args):
    query: str = Field(min_length=2, description="what to look up, e.g. 'too many clients postgres'")
    top: int = Field(default=3, ge=1, le=10)


def _search(ctx: ToolContext, a: Query) -> ToolResult:
    sections, bm25 = _index((ctx.cfg.knowledge_dir or SHIPPED).resolve())
    scores = bm25.get_scores(_tokens(a.query))
    ranked = sorted(range(len(sections)), key=lambda i: -scores[i])[: a.top]
    ranked = [i for i in ranked if scores[i] > 0]
    if not ranked:
        return ToolResult(tool="knowledge_search", args=a.model_dump(), status="no_data",
                          text=f"nothing in the runbooks matches {a.query!r}")
    parts = [f"[{sections[i][0]} :: {sections[i][1]}] (score {scores[i]:.1f})\n{sections[i][2]}"
             for i in ranked]
    return ToolResult(tool="knowledge_search", args=a.model_dump(), status="success",
                      text="\n\n".join(parts), data=[sections[i][:2] for i in ranked])


TOOLS = [Tool("knowledge_search", "Search the team's runbooks and architecture notes (BM25); "
              "returns the best-matching sections.", Query, Risk.READ,
              ("monitor", "diagnose", "repair"), _search)]
