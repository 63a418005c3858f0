"""Bulk ingest on Ray (issue 12): a two-node local Ray cluster (Ray's own ``cluster_utils``) ingests a
slice of the corpus with broken files among it and must give exactly what a local ingest of the same
files gives (clips, content hashes, store keys, labels from the manifest, windows, recorded errors),
into PostgreSQL as a cluster would; a Ray worker killed mid-run (by a real SIGKILL and by a file that
kills its worker) and a driver killed mid-run are followed by a rerun that ends in the same library."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from db.config import LibraryLocation
from db.library import Library
from indexer.digest import compare_digests, digest_counts, library_digest
from indexer.ingest import Ingester, IngestOptions, IngestSummary
from indexer.ingest_worker import FileResult, process_file
from indexer.metadata import MetadataIndex, load_metadata
from indexer.ray_ingest import CRASH_REASON, RayIngestError, RayOptions, RayRuntime, _probe_node
from tests.fixtures import write_broken, write_valid

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'dancesearch[ray]')")

CLI = [sys.executable, "-c", "from dancesearch.cli import main; main()"]
# Two small files of each source, so every reader and sidecar rule runs: DeepMimic character files,
# salsa's manifest fps overriding its header, ballroom's unnamed joints, the CMU T-pose drop.
SLICE = ["bandai/dataset-1/dataset-1_dash_normal_001.bvh.gz", "bandai/dataset-1/dataset-1_run_normal_001.bvh.gz",
         "bandai/dataset-2/dataset-2_wave-left-hand_active_011.bvh.gz", "cmu/002_03.bvh.gz",
         "deepmimic/016_48.json.gz", "deepmimic/016_49.json.gz", "ballroom/DANCE_W_24/skeletons.json.gz",
         "salsa/060_10.bvh.gz", "idle/003_genuine.bvh.gz"]
BROKEN = ["truncated", "nan", "unknown_rig", "binary_junk", "empty"]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A head and a worker node of one CPU each on this machine; this process is the driver."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": 80 * 2**20, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="WARNING")
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def archive(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], MetadataIndex]:
    """Ingest arguments (corpus files + a folder of valid and broken files) and the manifest's labels."""
    extra = tmp_path_factory.mktemp("extra")
    write_valid(extra, 6, n_frames=120)
    write_broken(extra, BROKEN)
    return [str(corpus / f) for f in SLICE] + [str(extra)], load_metadata([corpus / "manifest.json"])


@pytest.fixture(scope="module")
def local_digest(archive: tuple[list[str], MetadataIndex], tmp_path_factory: pytest.TempPathFactory
                 ) -> dict[str, Any]:
    """The reference: the same files ingested in this process by the local path."""
    paths, meta = archive
    with Library.open(LibraryLocation.resolve(tmp_path_factory.mktemp("local"))) as lib:
        summary = Ingester(lib, IngestOptions(workers=0, metadata=meta, progress=False)).run(paths)
        assert (summary.added, summary.failed) == (len(SLICE) + 6, len(BROKEN))
        return library_digest(lib)


def _ray_ingest(lib: Library, archive: tuple[list[str], MetadataIndex], **ray_opts: Any) -> IngestSummary:
    paths, meta = archive
    opts = IngestOptions(metadata=meta, progress=False, ray=RayOptions(**ray_opts))
    return Ingester(lib, opts).run(paths)


def _same(lib: Library, expected: dict[str, Any]) -> None:
    got = library_digest(lib)  # raises on a path or content hash stored twice
    assert compare_digests(got, expected) == []
    assert got == expected
    for clip in lib.list_clips():
        assert lib.store.get(clip.motion_key).shape == (clip.frames, 19, 3)


def test_ray_cluster_ingest_into_postgres_equals_local(ray_cluster: Any, archive: Any, local_digest: Any,
                                                       postgres_url: str, tmp_path: Path) -> None:
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    n_clips = len(SLICE) + 6
    with Library.open(LibraryLocation.resolve(tmp_path / "lib", postgres_url)) as lib:
        first = _ray_ingest(lib, archive, files_per_task=3, max_inflight=2)
        assert (first.added, first.skipped, first.failed) == (n_clips, 0, len(BROKEN))
        _same(lib, local_digest)
        assert digest_counts(local_digest)[:2] == (n_clips, sum(
            len(c["windows"]) for c in local_digest["clips"].values()))
        # Idempotent: a second run skips every stored file and records the bad ones again, once each.
        again = _ray_ingest(lib, archive)
        assert (again.added, again.skipped, again.failed) == (0, n_clips, len(BROKEN))
        _same(lib, local_digest)
        reasons = {Path(p).name: r for p, r in again.errors}
        assert reasons["junk.bvh"] and reasons["empty.bvh"]


def _crash_on(*names: str, once_dir: Path | None = None) -> Any:
    """A task function that kills its Ray worker (os._exit) on files named in `names`: every time,
    or only the first time when `once_dir` is given (a marker file per name)."""
    def task(path: str) -> FileResult:
        name = Path(path).name
        if name in names:
            marker = None if once_dir is None else once_dir / f"{name}.crashed"
            if marker is None or not marker.exists():
                if marker is not None:
                    marker.touch()
                os._exit(1)
        return process_file(path)
    return task


def test_worker_crash_is_retried_or_recorded_then_rerun_completes(ray_cluster: Any, archive: Any,
                                                                  local_digest: Any, tmp_path: Path) -> None:
    transient, fatal = "clip_001.bvh", "clip_004.bvh"
    with Library.open(LibraryLocation.resolve(tmp_path / "lib")) as lib:
        s = _ray_ingest(lib, archive, files_per_task=4,
                        task_fn=_crash_on(transient, once_dir=tmp_path))
        assert (tmp_path / f"{transient}.crashed").exists(), "the worker was never killed"
        assert (s.added, s.failed) == (len(SLICE) + 6, len(BROKEN))  # the killed task's files retried
        _same(lib, local_digest)

    with Library.open(LibraryLocation.resolve(tmp_path / "lib2")) as lib:
        s = _ray_ingest(lib, archive, files_per_task=4, task_fn=_crash_on(fatal))
        assert (s.added, s.failed) == (len(SLICE) + 5, len(BROKEN) + 1)
        assert [(Path(p).name, r) for p, r in s.errors if Path(p).name == fatal] == [(fatal, CRASH_REASON)]
        # Nothing half-written: the crashed file has no clip, the others are complete.
        assert fatal not in {Path(c.path).name for c in lib.list_clips()}
        rerun = _ray_ingest(lib, archive)
        assert (rerun.added, rerun.skipped, rerun.failed) == (1, len(SLICE) + 5, len(BROKEN))
        _same(lib, local_digest)  # the crash's error is resolved, the clip is like the local one


def _ray_task_pids() -> set[int]:
    """PIDs of Ray workers currently running an ingest task (Ray titles them ray::<function>)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::_run_files"):
                    out.add(int(entry.name))
            except OSError:
                continue
    return out


def _slow(seconds: float) -> Any:
    def task(path: str) -> FileResult:
        time.sleep(seconds)
        return process_file(path)
    return task


def test_sigkill_of_a_running_ray_worker(ray_cluster: Any, archive: Any, local_digest: Any,
                                         tmp_path: Path) -> None:
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set() and not killed:
            for pid in _ray_task_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.02)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        with Library.open(LibraryLocation.resolve(tmp_path / "lib")) as lib:
            s = _ray_ingest(lib, archive, files_per_task=2, task_fn=_slow(0.3))
            assert killed, "no running Ray worker was found to kill"
            assert (s.added, s.failed) == (len(SLICE) + 6, len(BROKEN))
            _same(lib, local_digest)
    finally:
        stop.set()
        thread.join(5)


def _committed(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM clips").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_driver_sigkill_then_rerun_on_the_cluster(ray_cluster: Any, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    write_valid(archive, 80, n_frames=300)
    write_broken(archive, ["nan", "empty"])
    with Library.open(LibraryLocation.resolve(tmp_path / "local")) as lib:
        Ingester(lib, IngestOptions(workers=0, progress=False)).run([archive])
        expected = library_digest(lib)
    data = tmp_path / "lib"
    # One task in flight: the driver is killed after its first commit, long before the end.
    # The spelling, --ray ADDRESS, through the real console command (dancesearch.cli.ray_address_form).
    args = ["ingest", str(archive), "--data-dir", str(data), "--ray", ray_cluster.address,
            "--workers", "1", "--no-index", "--json"]
    proc = subprocess.Popen(CLI + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 50
    try:
        while time.monotonic() < deadline and proc.poll() is None and _committed(data / "library.sqlite") == 0:
            time.sleep(0.005)
        assert proc.poll() is None, f"ingest ended before a clip was committed: {proc.stderr.read().decode()}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with Library.open(LibraryLocation.resolve(data)) as lib:
        at_kill = len(lib.list_clips())
        assert 0 < at_kill < 80, "the driver must be killed part-way"
        library_digest(lib)  # no clip twice
        windowed = {w.clip_id for w in lib.iter_windows()}
        assert all(c.id in windowed and lib.store.has(c.motion_key) for c in lib.list_clips())

    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # the broken files fail (exit codes: README)
    doc = json.loads(done.stdout)
    assert (doc["added"], doc["skipped"], doc["failed"]) == (80 - at_kill, at_kill, 2)
    with Library.open(LibraryLocation.resolve(data)) as lib:
        _same(lib, expected)


def test_cli_ray_starts_a_local_runtime(tmp_path: Path) -> None:
    write_valid(tmp_path / "arch", 3)
    write_broken(tmp_path / "arch", ["nan"])
    args = ["ingest", str(tmp_path / "arch"), "--ray", "--workers", "1", "--no-index",
            "--data-dir", str(tmp_path / "lib"), "--json"]
    done = subprocess.run(CLI + args, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})
    assert done.returncode == 1, done.stderr
    assert {k: json.loads(done.stdout)[k] for k in ("added", "failed")} == {"added": 3, "failed": 1}
    with Library.open(LibraryLocation.resolve(tmp_path / "lib")) as lib:
        assert len(lib.list_clips()) == 3
        assert [Path(e.path).name for e in lib.list_errors()] == ["nan.bvh"]


def test_ray_missing_is_a_clear_error(tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    write_valid(tmp_path / "arch", 1)
    monkeypatch.setattr("indexer.ray_ingest.ray_available", lambda: False)
    res: Any = cli("ingest", tmp_path / "arch", "--ray", "--data-dir", tmp_path / "lib")
    assert res.exit_code == 2
    assert "pip install 'dancesearch[ray]'" in res.output
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(RayIngestError, match=r"dancesearch\[ray\]"):
        RayRuntime(RayOptions())


@pytest.mark.parametrize("spelling", [["--ray-address", "127.0.0.1:9"], ["--ray", "127.0.0.1:9"],
                                      ["--ray=127.0.0.1:9"]])
def test_unreachable_cluster_fails_fast(tmp_path: Path, cli: Any, spelling: list[str]) -> None:
    write_valid(tmp_path / "arch", 1)
    t0 = time.monotonic()
    res: Any = cli("ingest", tmp_path / "arch", *spelling, "--no-index", "--data-dir", tmp_path / "lib")
    assert res.exit_code == 2 and time.monotonic() - t0 < 30
    assert "cannot join the Ray cluster at 127.0.0.1:9: nothing answers" in res.output


def test_ray_option_reads_an_address_only_where_it_is_one() -> None:
    from dancesearch.cli import ray_address_form

    # A path after --ray stays a path (click alone would take it as the option's value).
    assert ray_address_form(["ingest", "--ray", "mocap/", "x"]) == ["ingest", "--ray", "mocap/", "x"]
    assert ray_address_form(["ingest", "d", "--ray"]) == ["ingest", "d", "--ray"]
    for address in ("auto", "ray://head:10001", "10.0.0.7:6379", "head-node.local:6379"):
        expected = ["ingest", "--ray", "--ray-address", address, "d"]
        assert ray_address_form(["ingest", "--ray", address, "d"]) == expected
        assert ray_address_form(["ingest", f"--ray={address}", "d"]) == expected
    assert ray_address_form(["reindex", "--ray", "local"]) == ["reindex", "--ray"]
    assert ray_address_form(["search", "text", "--", "--ray", "auto"]) == ["search", "text", "--", "--ray", "auto"]


def test_node_probe_names_what_a_node_cannot_see(tmp_path: Path) -> None:
    probe = tmp_path / ".ray-probe-x"
    probe.write_text("token")
    assert _probe_node(str(probe), "token", [str(probe)])[1] is None
    assert "different folder" in str(_probe_node(str(probe), "other", [])[1])
    assert "cannot read the motion store" in str(_probe_node(str(tmp_path / "missing"), "token", [])[1])
    assert "cannot read the input file /nope.bvh" in str(_probe_node(str(probe), "token", ["/nope.bvh"])[1])
