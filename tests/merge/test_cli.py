"""``flask db auto-merge-heads`` through the CLI: what it writes, refuses, reports and exits with.

These runs never open the app's database (a SQLite file that is never created); applying the
merge on every database is in ``test_upgrade.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flask_safemigrate import history, merge
from flask_safemigrate.errors import ChecksFailed, PreflightError
from tests.support.cli import invoke
from tests.support.merge import ROOT, MergeApp, new_scripts, rev, root, run_merge, snapshot

A, B, C = "b1b1b1b1b1b1", "c2c2c2c2c2c2", "d3d3d3d3d3d3"
MERGED = "m0m0m0m0m0m0"

ADD_AGE = 'op.add_column("users", sa.Column("age", sa.Integer()))'
CREATE_TAGS = 'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))'
DROP_EMAIL = 'op.drop_column("users", "email")'
ALTER_EMAIL = 'op.alter_column("users", "email", type_=sa.String(length=200))'


def graph_of(migrations: Path) -> history.RevisionGraph:
    return history.load_graph([migrations / "versions"])


def test_one_head_is_nothing_to_do(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    before = snapshot(migrations)
    code, data, _ = run_merge(app)
    assert code == 0
    assert data == {
        "schema_version": 1,
        "ok": True,
        "heads": [ROOT],
        "merge_revision": None,
        "path": None,
        "conflicts": [],
        "problems": [],
    }
    text = invoke(app, "db", "auto-merge-heads")
    assert text.exit_code == 0
    assert text.stdout.splitlines()[-1] == f"Nothing to merge: one head ({ROOT})."
    assert snapshot(migrations) == before


def test_no_revisions_is_nothing_to_do(merge_app: MergeApp) -> None:
    app, _ = merge_app()
    code, data, _ = run_merge(app)
    assert (code, data["heads"], data["merge_revision"]) == (0, [], None)


def test_two_heads_without_conflict_are_merged(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ADD_AGE, message="add age")
    rev(migrations, B, ROOT, CREATE_TAGS, message="create tags")
    before = snapshot(migrations)

    result = invoke(app, "db", "auto-merge-heads")

    assert result.exit_code == 0, result.output
    (written,) = new_scripts(before, migrations)
    path = migrations / "versions" / written
    graph = graph_of(migrations)
    (head,) = graph.heads
    script = graph.scripts[head]
    assert script.path == path
    assert script.down_revisions == (A, B)
    assert script.message == f"merge heads {A}, {B}"
    assert graph.problems == ()
    assert f"Wrote merge revision {head}: {path}" in result.stdout
    assert "Generating" not in result.output  # Alembic's progress line stays quiet
    assert (
        result.stdout.splitlines()[-1]
        == f"Merged heads {A}, {B} into {head}; the history has one head."
    )
    # every script that was there is byte for byte what it was
    assert {name: sha for name, sha in snapshot(migrations).items() if name != written} == before


def test_the_file_follows_the_project_template(merge_app: MergeApp) -> None:
    """script.py.mako and file_template come from the project, as with `flask db merge`."""
    app, migrations = merge_app()
    ini = migrations / "alembic.ini"
    ini.write_text(
        ini.read_text().replace("[alembic]", "[alembic]\nfile_template = %%(slug)s_%%(rev)s"),
        encoding="utf-8",
    )
    mako = migrations / "script.py.mako"
    mako.write_text("# house template\n" + mako.read_text(), encoding="utf-8")
    root(migrations)
    rev(migrations, A, ROOT, ADD_AGE)
    rev(migrations, B, ROOT, CREATE_TAGS)

    code, data, _ = run_merge(app, "-m", "Join the tag work")

    assert code == 0
    path = Path(data["path"])
    assert path.name == f"join_the_tag_work_{data['merge_revision']}.py"
    text = path.read_text()
    assert text.startswith('# house template\n"""Join the tag work\n')
    assert f"down_revision = ('{A}', '{B}')" in text


def test_same_column_is_refused(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ALTER_EMAIL, message="widen email")
    rev(migrations, B, ROOT, DROP_EMAIL, message="drop email")
    before = snapshot(migrations)

    result = invoke(app, "db", "auto-merge-heads")

    assert result.exit_code == 1
    assert snapshot(migrations) == before  # nothing written, nothing changed
    lines = result.stdout.splitlines()
    start = lines.index(
        "error[branch-conflict]: column users.email is changed on more than one branch"
    )
    assert lines[start + 1 : start + 5] == [
        f"    branch of head {A}:",
        f'      {A} "widen email"  {migrations / "versions" / f"{A}_test.py"}:15  alter_column',
        f"    branch of head {B}:",
        f'      {B} "drop email"  {migrations / "versions" / f"{B}_test.py"}:15  drop_column',
    ]
    assert "--force" in lines[start + 5]
    assert "Not merged: 1 conflict between the branches (below). Nothing was written." in lines
    assert lines[-1] == (
        f"Refused to merge heads {A}, {B}: 1 conflict between the branches (above);"
        " nothing was written."
    )
    assert "Traceback" not in result.output


def test_conflicts_as_json(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ALTER_EMAIL, message="widen email")
    rev(migrations, B, ROOT, DROP_EMAIL)

    code, data, _ = run_merge(app)

    assert code == 1
    assert {k: data[k] for k in ("ok", "heads", "merge_revision", "path")} == {
        "ok": False,
        "heads": [A, B],
        "merge_revision": None,
        "path": None,
    }
    (conflict,) = data["conflicts"]
    assert conflict == {
        "kind": "column",
        "object": "users.email",
        "message": "column users.email is changed on more than one branch",
        "revisions": [A, B],
        "branches": [
            {
                "head": A,
                "labels": [],
                "revisions": [
                    {
                        "revision": A,
                        "message": "widen email",
                        "path": str(migrations / "versions" / f"{A}_test.py"),
                        "line": 15,
                        "operations": ["alter_column"],
                    }
                ],
            },
            {
                "head": B,
                "labels": [],
                "revisions": [
                    {
                        "revision": B,
                        "message": f"step {B}",
                        "path": str(migrations / "versions" / f"{B}_test.py"),
                        "line": 15,
                        "operations": ["drop_column"],
                    }
                ],
            },
        ],
    }
    (problem,) = data["problems"]
    assert (problem["check"], problem["severity"], problem["revisions"]) == (
        "branch-conflict",
        "error",
        [A, B],
    )


@pytest.mark.parametrize(
    ("left", "right", "kind", "shown"),
    [
        (
            'op.create_index("ix_lookup", "users", ["email"])',
            'op.create_index("ix_lookup", "users", ["id"])',
            "index",
            "ix_lookup",
        ),
        (CREATE_TAGS, CREATE_TAGS, "table-created", "tags"),
    ],
    ids=["same-index-name", "same-created-table"],
)
def test_other_conflicts_are_refused(
    merge_app: MergeApp, left: str, right: str, kind: str, shown: str
) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, left)
    rev(migrations, B, ROOT, right)
    before = snapshot(migrations)
    code, data, _ = run_merge(app)
    assert code == 1
    assert [(c["kind"], c["object"], c["revisions"]) for c in data["conflicts"]] == [
        (kind, shown, [A, B])
    ]
    assert snapshot(migrations) == before


def test_force_merges_and_still_reports(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ALTER_EMAIL)
    rev(migrations, B, ROOT, DROP_EMAIL)
    before = snapshot(migrations)

    code, data, _ = run_merge(app, "--force")

    assert code == 0
    assert data["ok"] is True
    assert [c["object"] for c in data["conflicts"]] == ["users.email"]
    assert [p["severity"] for p in data["problems"]] == ["warning"]
    (written,) = new_scripts(before, migrations)
    assert data["path"] == str(migrations / "versions" / written)
    assert graph_of(migrations).heads == (data["merge_revision"],)
    text = invoke(app, "db", "auto-merge-heads", "--force")  # one head now: nothing to do
    assert text.exit_code == 0 and "Nothing to merge" in text.stdout


def test_force_text_output(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ALTER_EMAIL)
    rev(migrations, B, ROOT, DROP_EMAIL)
    result = invoke(app, "db", "auto-merge-heads", "--force")
    assert result.exit_code == 0
    assert "Merging despite 1 conflict (--force)." in result.stdout
    assert "warning[branch-conflict]: column users.email" in result.stdout
    assert "help: add a migration after the merge that reconciles users.email" in result.stdout
    (head,) = graph_of(migrations).heads
    assert result.stdout.splitlines()[-1] == (
        f"Merged heads {A}, {B} into {head} despite 1 conflict (--force):"
        " add a migration that reconciles them."
    )


def test_check_only_reports(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ADD_AGE)
    rev(migrations, B, ROOT, CREATE_TAGS)
    before = snapshot(migrations)

    code, data, _ = run_merge(app, "--check")

    assert code == 1
    assert snapshot(migrations) == before
    assert (data["ok"], data["merge_revision"], data["path"], data["conflicts"]) == (
        False,
        None,
        None,
        [],
    )
    (problem,) = data["problems"]
    assert (problem["check"], problem["revisions"]) == ("multiple-heads", [A, B])
    assert "auto-merge-heads" in problem["help"]
    text = invoke(app, "db", "auto-merge-heads", "--check")
    assert text.exit_code == 1
    assert "--check: nothing was written." in text.stdout
    assert text.stdout.splitlines()[-1] == f"Not merged (--check): 2 heads ({A}, {B})."


def test_check_lists_conflicts_too(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, DROP_EMAIL)
    rev(migrations, B, ROOT, DROP_EMAIL)
    code, data, _ = run_merge(app, "--check", "--force")  # --check never writes
    assert code == 1
    assert [p["check"] for p in data["problems"]] == ["multiple-heads", "branch-conflict"]
    assert [p["severity"] for p in data["problems"]] == ["error", "error"]
    assert graph_of(migrations).heads == (A, B)


def test_check_with_one_head_passes(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    code, data, _ = run_merge(app, "--check")
    assert (code, data["ok"], data["problems"]) == (0, True, [])


def test_three_heads_are_merged_into_one(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ADD_AGE)
    rev(migrations, B, ROOT, CREATE_TAGS)
    rev(migrations, C, ROOT, 'op.create_index("ix_users_email", "users", ["email"])')
    code, data, _ = run_merge(app)
    assert code == 0
    graph = graph_of(migrations)
    assert graph.heads == (data["merge_revision"],)
    assert graph.scripts[data["merge_revision"]].down_revisions == (A, B, C)
    assert data["heads"] == [A, B, C]


def test_three_heads_with_one_conflicting_pair(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ALTER_EMAIL)
    rev(migrations, B, ROOT, CREATE_TAGS)
    rev(migrations, C, ROOT, DROP_EMAIL)
    before = snapshot(migrations)
    code, data, _ = run_merge(app)
    assert code == 1
    (conflict,) = data["conflicts"]
    assert [branch["head"] for branch in conflict["branches"]] == [A, C]
    assert snapshot(migrations) == before
    text = invoke(app, "db", "auto-merge-heads").stdout
    assert f"branch of head {A}:" in text and f"branch of head {C}:" in text
    assert f"branch of head {B}:" not in text


def test_nested_merges(merge_app: MergeApp) -> None:
    """A history that already has a merge point diverges again and is merged again."""
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ALTER_EMAIL)
    rev(migrations, B, ROOT, DROP_EMAIL)
    rev(migrations, MERGED, (A, B), message="earlier merge (forced)")
    rev(migrations, C, MERGED, ADD_AGE)
    rev(migrations, "e4e4e4e4e4e4", MERGED, CREATE_TAGS)
    code, data, result = run_merge(app)
    assert code == 0, result.output
    assert data["conflicts"] == []  # A/B were reconciled by the earlier merge
    graph = graph_of(migrations)
    assert graph.merge_points == tuple(sorted((MERGED, data["merge_revision"])))
    assert graph.scripts[data["merge_revision"]].down_revisions == (C, "e4e4e4e4e4e4")
    text = invoke(app, "db", "auto-merge-heads").stdout
    assert "Nothing to merge" in text


def test_nested_merge_text_names_the_fork(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ADD_AGE)
    rev(migrations, B, ROOT, CREATE_TAGS)
    rev(migrations, MERGED, (A, B))
    rev(migrations, C, MERGED, DROP_EMAIL)
    rev(migrations, "e4e4e4e4e4e4", MERGED, DROP_EMAIL)
    result = invoke(app, "db", "auto-merge-heads", "--check")
    assert result.exit_code == 1
    assert f"The heads diverge after {MERGED}:" in result.stdout
    assert f"  {C}: 1 revision on its branch" in result.stdout


def test_branch_labels(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ADD_AGE, labels=["feature"])
    rev(migrations, C, A, 'op.create_index("ix_users_age", "users", ["age"])')
    rev(migrations, B, ROOT, CREATE_TAGS)
    result = invoke(app, "db", "auto-merge-heads")
    assert result.exit_code == 0, result.output
    assert f"  {C} [feature]: 2 revisions on its branch" in result.stdout
    graph = graph_of(migrations)
    (head,) = graph.heads
    assert graph.scripts[head].message == f"merge heads {B}, {C} (feature)"
    assert graph.scripts[head].branch_labels == ()
    assert graph.resolve("feature@head") == (head,)  # the label's branch now ends in the merge


def test_independent_labelled_branches(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, None, CREATE_TAGS, labels=["tagging"])
    code, data, result = run_merge(app)
    assert code == 0, result.output
    assert data["heads"] == sorted([ROOT, A])
    assert graph_of(migrations).scripts[data["merge_revision"]].down_revisions == tuple(
        sorted([ROOT, A])
    )
    text = invoke(app, "db", "auto-merge-heads", "--check")  # merged: one head
    assert text.exit_code == 0


def test_independent_branches_are_said_so(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, None, CREATE_TAGS, labels=["tagging"])
    result = invoke(app, "db", "auto-merge-heads", "--check")
    assert "with no common ancestor (independent branches)" in result.stdout


def test_broken_history_exits_3(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, "ffffffffffff", ADD_AGE)
    before = snapshot(migrations)
    result = invoke(app, "db", "auto-merge-heads")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.startswith("Error: the revision history is broken, nothing was merged:")
    assert "ffffffffffff" in result.stderr
    assert "Traceback" not in result.output
    code, data, _ = run_merge(app)
    assert code == 3
    assert (data["ok"], data["error"], data["merge_revision"]) == (False, "PreflightError", None)
    assert [p["check"] for p in data["problems"]] == ["missing-parent"]
    assert snapshot(migrations) == before


def test_no_migrations_directory_exits_2(merge_app: MergeApp, tmp_path: Path) -> None:
    app, _ = merge_app()
    app.extensions["migrate"].directory = str(tmp_path / "nowhere")
    result = invoke(app, "db", "auto-merge-heads")
    assert result.exit_code == 2
    assert (
        result.stderr.splitlines()[0] == f"Error: no migrations directory at {tmp_path / 'nowhere'}"
    )
    code, data, _ = run_merge(app)
    assert (code, data["error"], data["heads"], data["conflicts"]) == (2, "ConfigError", [], [])


def test_bad_option_exits_2(merge_app: MergeApp) -> None:
    app, _ = merge_app()
    result = invoke(app, "db", "auto-merge-heads", "--format", "xml")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_a_script_alembic_cannot_load_writes_nothing(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ADD_AGE, header="import no_such_module_for_merge_tests\n")
    rev(migrations, B, ROOT, CREATE_TAGS)
    before = snapshot(migrations)
    result = invoke(app, "db", "auto-merge-heads")
    assert result.exit_code == 3
    assert "Alembic could not write the merge revision: ModuleNotFoundError" in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(migrations) == before
    assert sorted(p.name for p in (migrations / "versions").iterdir() if p.name[0] == ".") == []


def test_a_failing_post_write_hook_removes_only_the_new_file(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    ini = migrations / "alembic.ini"
    ini.write_text(
        ini.read_text() + "\n[post_write_hooks]\nhooks = broken\nbroken.type = console_scripts\n"
        "broken.entrypoint = no-such-entrypoint-for-merge-tests\n",
        encoding="utf-8",
    )
    root(migrations)
    rev(migrations, A, ROOT, ADD_AGE)
    rev(migrations, B, ROOT, CREATE_TAGS)
    before = snapshot(migrations)
    code, data, _ = run_merge(app)
    assert code == 3
    assert "no-such-entrypoint-for-merge-tests" in data["message"]
    assert snapshot(migrations) == before
    assert graph_of(migrations).heads == (A, B)


# --------------------------------------------------------------------------- the Python API


def test_merge_heads_refuses_conflicts(merge_app: MergeApp) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ALTER_EMAIL)
    rev(migrations, B, ROOT, DROP_EMAIL)
    with pytest.raises(ChecksFailed) as caught:
        merge.merge_heads(app)
    error = caught.value
    assert error.exit_code == 1
    assert f"not merging heads {A}, {B}" in error.message
    assert error.data["heads"] == [A, B]
    assert [c["object"] for c in error.data["conflicts"]] == ["users.email"]
    forced = merge.merge_heads(app, message="reconcile later", force=True)
    assert forced.merged and forced.path is not None
    assert forced.heads == (A, B)
    assert forced.path.read_text().startswith('"""reconcile later\n')


def test_merge_heads_on_a_directory_without_an_app(merge_app: MergeApp) -> None:
    _, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ADD_AGE)
    rev(migrations, B, ROOT, CREATE_TAGS)
    result = merge.merge_heads(migrations)
    assert result.merged
    assert graph_of(migrations).heads == (result.merge_revision,)
    again = merge.merge_heads(str(migrations))
    assert (again.merged, again.heads, again.path) == (False, (result.merge_revision,), None)


def test_merge_heads_on_a_broken_history(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    rev(migrations, A, B, ADD_AGE)
    rev(migrations, B, A, ADD_AGE)
    with pytest.raises(PreflightError) as caught:
        merge.merge_heads(migrations)
    assert "form a cycle" in caught.value.message


def test_a_merge_that_leaves_two_heads_is_removed(merge_app: MergeApp) -> None:
    """A post-write hook that drops one parent: the graph check catches it, the file goes."""
    app, migrations = merge_app()
    ini = migrations / "alembic.ini"
    ini.write_text(
        ini.read_text() + "\n[post_write_hooks]\nhooks = oneparent\noneparent.type = exec\n"
        "oneparent.executable = sed\n"
        f"oneparent.options = -i \"s/^down_revision = .*/down_revision = '{A}'/\""
        " REVISION_SCRIPT_FILENAME\n",
        encoding="utf-8",
    )
    root(migrations)
    rev(migrations, A, ROOT, ADD_AGE)
    rev(migrations, B, ROOT, CREATE_TAGS)
    before = snapshot(migrations)
    code, data, _ = run_merge(app)
    assert code == 1
    assert data["error"] == "ChecksFailed"
    assert data["message"].startswith("the merge revision did not leave one head")
    assert data["message"].endswith("; it was removed")
    assert snapshot(migrations) == before
    assert graph_of(migrations).heads == (A, B)


def test_the_file_name_is_made_of_the_message_as_given(merge_app: MergeApp) -> None:
    """The script's source holds the message escaped; its file name read "merge_alpha_nand"
    when Alembic made the slug from that escaped text."""
    app, migrations = merge_app()
    ini = migrations / "alembic.ini"
    ini.write_text(
        ini.read_text().replace("[alembic]", "[alembic]\nfile_template = %%(slug)s_%%(rev)s"),
        encoding="utf-8",
    )
    root(migrations)
    rev(migrations, A, ROOT, ADD_AGE)
    rev(migrations, B, ROOT, CREATE_TAGS)

    code, data, _ = run_merge(app, "-m", "merge alpha\nand\tbeta C:\\new")

    assert code == 0, data
    assert Path(data["path"]).name == f"merge_alpha_and_beta_c_new_{data['merge_revision']}.py"
    assert Path(data["path"]).read_text().startswith('"""merge alpha\\nand\\tbeta C:\\\\new\n')


@pytest.mark.parametrize("message", ["fix", "wip", " "])
def test_a_vague_message_is_refused_as_migrate_refuses_it(
    merge_app: MergeApp, message: str
) -> None:
    app, migrations = merge_app()
    root(migrations)
    rev(migrations, A, ROOT, ADD_AGE)
    rev(migrations, B, ROOT, CREATE_TAGS)
    before = snapshot(migrations)

    result = invoke(app, "db", "auto-merge-heads", "-m", message)

    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: "), result.output
    assert 'e.g. -m "add email to users"' in result.output
    assert snapshot(migrations) == before
