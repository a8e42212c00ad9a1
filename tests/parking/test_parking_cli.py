"""`alprd plates` and `alprd visits` as a user runs them: exit codes and one-line errors."""
from __future__ import annotations

import json

from alprd.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_plates_commands_and_their_errors(tmp_path, capsys):
    url = ("--url", f"sqlite:///{tmp_path / 'alprd.db'}")
    code, _, err = run(capsys, "plates", "list", *url)   # reading never creates a database
    assert code == 1 and "no database" in err and not (tmp_path / "alprd.db").exists()
    assert run(capsys, "plates", "create", "banned", "--kind", "deny", *url)[0] == 0
    assert run(capsys, "plates", "add", "banned", "京b 6789c", "--label", "stolen", *url)[0] == 0
    code, _, err = run(capsys, "plates", "add", "residents", "皖A12345", *url)
    assert code == 2 and err.strip() == "alprd plates: unknown list 'residents' (lists: banned)"
    csv = tmp_path / "in.csv"
    csv.write_text("plate,label,valid_from\n皖A12345,flat 3,\n皖B22222,flat 4,next tuesday\n", encoding="utf-8")
    code, _, err = run(capsys, "plates", "import", "banned", str(csv), *url)
    assert code == 2 and err.startswith(f"alprd plates: {csv}:3: valid_from: 'next tuesday'") and "\n" not in err.strip()
    csv.write_text("plate,label\n皖A12345,flat 3\n", encoding="utf-8")
    assert run(capsys, "plates", "import", "banned", str(csv), *url)[0] == 0
    code, out, _ = run(capsys, "plates", "list", "banned", "--json", *url)
    assert code == 0 and [json.loads(x)["plate"] for x in out.splitlines()] == ["京B6789C", "皖A12345"]
    code, out, _ = run(capsys, "plates", "export", "banned", *url)
    assert out.splitlines() == ["plate,label,valid_from,valid_until,note", "京B6789C,stolen,,,", "皖A12345,flat 3,,,"]
    assert run(capsys, "plates", "remove", "banned", "京B6789C", *url)[0] == 0
    code, _, err = run(capsys, "plates", "remove", "banned", "京B6789C", *url)
    assert code == 2 and "has no plate" in err
    code, _, err = run(capsys, "plates", "create", "x", "--kind", "allow", "--max-distance", "-1", *url)
    assert code == 2 and "max distance" in err


def test_visits_on_an_empty_database_and_bad_arguments(tmp_path, capsys):
    url = ("--url", f"sqlite:///{tmp_path / 'alprd.db'}")
    code, _, err = run(capsys, "visits", *url)
    assert code == 1 and "no database" in err
    assert run(capsys, "plates", "create", "x", "--kind", "watch", *url)[0] == 0  # creates the schema
    code, out, _ = run(capsys, "visits", "--open", "--json", *url)
    assert code == 0 and out == ""
    code, _, err = run(capsys, "visits", "--since", "yesterday-ish", *url)
    assert code == 2 and "not a time" in err
