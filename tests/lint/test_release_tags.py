"""``releases = "git-tags"``: the revisions of one release (the earliest git tag holding the
commit that added each script) ship together, so a table an earlier revision of the same
release created is new for the later ones (``lint/release_tags.py``, applied as
``lint/helpers/deployed_together.py`` applies ``--since``). Across a tag the findings stay;
scripts no tag holds are one group; without git or tags one line says it did nothing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from flask_safemigrate.console import main
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.lint import LintConfig, config_from, engine
from flask_safemigrate.lint.command import lint_command
from flask_safemigrate.lint.release_tags import UNRELEASED, git_tag_releases
from flask_safemigrate.report import Report
from tests.lint.test_deployed_together import BASE, CHANGE, CREATE, RULES, errors, write_history
from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke
from tests.support.databases import sqlite_url

TAGS = LintConfig(dialect="postgresql", releases="git-tags")
OFF = LintConfig(dialect="postgresql")
NO_EFFECT = 'releases = "git-tags" had no effect'


class Repo:
    """A git repository in a test's folder; commits get one date each, a minute apart, so
    the tags' dates say which came first."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.minute = 0
        self.git("init", "-q")

    def git(self, *args: str) -> str:
        self.minute += 1
        date = f"2026-01-01T00:{self.minute:02d}:00+00:00"
        done = subprocess.run(
            ["git", "-C", str(self.top), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date},
        )
        return done.stdout

    def commit(self, *paths: Path, tag: str | None = None) -> None:
        self.git("add", "--", *(str(p) for p in paths))
        self.git("commit", "-qm", "step")
        if tag is not None:
            # update-ref, not `git tag`: it takes names `git tag` refuses (a leading dash).
            self.git("update-ref", f"refs/tags/{tag}", "HEAD")


def script(versions: Path, revision: str) -> Path:
    (found,) = versions.glob(f"{revision}*.py")
    return found


def run(versions: Path, config: LintConfig = TAGS, since: set[str] | None = None) -> Report:
    return lint_command([versions], config, only_revisions=since).report


@pytest.fixture
def versions(tmp_path: Path) -> Path:
    return write_history(tmp_path / "migrations")


def test_a_table_created_earlier_in_the_same_tag_is_new(tmp_path: Path, versions: Path) -> None:
    repo = Repo(tmp_path)
    repo.commit(script(versions, BASE), tag="v1")
    repo.commit(script(versions, CREATE))
    repo.commit(script(versions, CHANGE), tag="v2")
    report = run(versions)
    assert errors(report) == set()
    assert "summary_hint" not in report.facts
    assert errors(run(versions, OFF)) == RULES  # off by default: each script alone


def test_across_a_tag_boundary_the_findings_stay(tmp_path: Path, versions: Path) -> None:
    repo = Repo(tmp_path)
    repo.commit(script(versions, BASE), script(versions, CREATE), tag="v1")
    repo.commit(script(versions, CHANGE), tag="v2")
    assert errors(run(versions)) == RULES
    # A later tag on the same commits does not move them out of the earliest one.
    repo.git("tag", "v3")
    assert errors(run(versions)) == RULES


def test_untagged_scripts_form_one_group(tmp_path: Path, versions: Path) -> None:
    repo = Repo(tmp_path)
    repo.commit(script(versions, BASE), tag="v1")
    repo.commit(script(versions, CREATE))  # committed since the last tag
    # CHANGE is not committed at all: unreleased too, in the same group.
    releases = git_tag_releases([script(versions, r).resolve() for r in (BASE, CREATE, CHANGE)])
    assert sorted(map(str, releases.releases.values())) == sorted(
        ["v1", str(UNRELEASED), str(UNRELEASED)]
    )
    assert errors(run(versions)) == set()
    # Tagging CREATE alone puts a boundary between it and CHANGE.
    repo.git("tag", "v2")
    assert errors(run(versions)) == RULES


def test_a_moved_folder_keeps_the_commit_that_added_each_script(
    tmp_path: Path, versions: Path
) -> None:
    repo = Repo(tmp_path)
    repo.commit(script(versions, BASE), script(versions, CREATE), tag="v1")
    repo.commit(script(versions, CHANGE), tag="v2")
    moved = tmp_path / "db" / "versions"
    moved.parent.mkdir()
    repo.git("mv", "--", str(versions), str(moved))
    repo.git("commit", "-qm", "move", "--no-verify")
    repo.git("tag", "v3")  # every script is "added" under its new name in v3's commit
    assert errors(run(moved)) == RULES


@pytest.mark.parametrize("tagged", [False, True])
def test_without_git_or_tags_one_line_says_it_had_no_effect(tmp_path: Path, tagged: bool) -> None:
    """The folder's name is in the line, a line break in it escaped."""
    versions = write_history(tmp_path / "mig\nrations")
    if tagged:  # a repository, but no tag in it
        Repo(tmp_path).commit(*versions.glob("*.py"))
    report = run(versions)
    assert errors(report) == RULES
    hint = report.facts["summary_hint"]
    assert hint.startswith(NO_EFFECT)
    assert ("has no tags" if tagged else "is not in a git repository") in hint
    assert "\n" not in hint
    result = CliRunner().invoke(
        main, ["lint", str(versions), "--releases", "git-tags", "--dialect", "postgresql"]
    )
    assert result.exit_code == 1, result.output
    (summary,) = [line for line in result.output.splitlines() if NO_EFFECT in line]
    assert summary.startswith("Found ")
    result = CliRunner().invoke(
        main, ["lint", str(versions), "--releases", "git-tags", "--format", "json"]
    )
    assert NO_EFFECT in json.loads(result.stdout)["summary"]["hint"]


def test_hostile_tag_and_file_names(tmp_path: Path) -> None:
    """A tag starting with a dash, Unicode in tags, folders and file names, spaces and a
    leading dash in the file names: nothing reaches git as an option or breaks its output."""
    top = tmp_path / "-repo ü"
    versions = write_history(top / "-mig rations é")
    renamed = []
    for revision, name in ((BASE, "-start ünï.py"), (CREATE, "--create orders.py")):
        path = script(versions, revision)
        renamed.append(path.rename(path.with_name(name)))
    repo = Repo(top)
    repo.commit(renamed[0], tag="-v1")
    repo.commit(renamed[1], script(versions, CHANGE), tag="vé-2")
    tagged = git_tag_releases([p.resolve() for p in versions.glob("*.py")])
    assert tagged.notice is None
    assert sorted(map(str, tagged.releases.values())) == ["-v1", "vé-2", "vé-2"]
    assert errors(run(versions)) == set()


def test_a_release_map_through_the_api(versions: Path) -> None:
    """``releases=`` of :func:`engine.lint`: keyed by revision id or resolved path; a
    revision with none is alone; with ``--since``, the set is split by release."""
    same = {CREATE: "1.0", script(versions, CHANGE).resolve(): "1.0"}
    assert errors(engine.lint([versions], OFF, releases=same)) == set()
    assert errors(engine.lint([versions], OFF, releases={CREATE: "1.0", CHANGE: "1.1"})) == RULES
    assert errors(engine.lint([versions], OFF, releases={CHANGE: "1.0"})) == RULES
    since = {CREATE, CHANGE}
    assert errors(engine.lint([versions], OFF, only_revisions=since)) == set()
    split = {CREATE: "1.0", CHANGE: "1.1"}
    assert errors(engine.lint([versions], OFF, only_revisions=since, releases=split)) == RULES
    # Safe-upgrade's pre-flight: nothing is new, whatever the releases.
    kept = engine.lint(
        [versions], OFF, only_revisions=since, deployed_together=False, releases=same
    )
    assert errors(kept) == RULES


def test_the_setting(tmp_path: Path, versions: Path) -> None:
    assert config_from({"releases": "Git-Tags"}).releases == "git-tags"
    assert config_from({}).releases == "off"
    with pytest.raises(ConfigError, match="releases"):
        config_from({"releases": "tags"})
    (tmp_path / "pyproject.toml").write_text(
        '[tool.safemigrate.lint]\nreleases = "git-tags"\ndialect = "postgresql"\n'
    )
    result = CliRunner().invoke(main, ["lint", str(versions.parent)])
    assert NO_EFFECT in result.output  # read from pyproject: tmp_path is no repository
    result = CliRunner().invoke(main, ["lint", str(versions.parent), "--releases", "off"])
    assert NO_EFFECT not in result.output
    result = CliRunner().invoke(main, ["lint", str(versions.parent), "--releases", "tags"])
    assert result.exit_code == 2


def test_flask_db_lint_reads_the_flask_setting_and_the_option(
    make_app: MakeApp, tmp_path: Path
) -> None:
    """``SAFEMIGRATE_LINT_RELEASES`` under ``flask db lint``; ``--releases off`` overrides it.
    On SQLite, of the changes only the NOT NULL column is an error."""
    app = make_app(
        sqlite_url(tmp_path / "app.db"), config={"SAFEMIGRATE_LINT_RELEASES": "git-tags"}
    )
    versions = write_history(init_migrations(app))
    not_null = {"add-not-null-column-without-default"}

    def lint_rules(*options: str) -> tuple[set[str], str]:
        result = invoke(app, "db", "lint", *options, "--format", "json")
        data = json.loads(result.stdout)
        rules = {f["rule"] for f in data["findings"] if f["rule"] in RULES and CHANGE in f["path"]}
        return rules, data["summary"].get("hint", "")

    rules, hint = lint_rules()
    assert rules == not_null and NO_EFFECT in hint  # no repository yet
    repo = Repo(tmp_path)
    repo.commit(script(versions, BASE), tag="v1")
    repo.commit(script(versions, CREATE), script(versions, CHANGE), tag="v2")
    rules, hint = lint_rules()
    assert rules == set() and NO_EFFECT not in hint
    assert lint_rules("--releases", "off") == (not_null, "")
