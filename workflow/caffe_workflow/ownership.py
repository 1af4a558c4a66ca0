"""Which data_dir a dataset belongs to, and one ingest at a time per dataset.

A dataset records the canonical data_dir it is built from in
``dataset.info["data_dir"]``. The ingest deletes every sample whose image is
not in its catalog, so a run from another data_dir (another folder, another
``--config data_dir``) must not write into it: it stops, naming both folders
and the ways out, unless ``take_over_dataset`` is set.

Two ingests into one dataset at once (two folders, same data_dir) take turns:
a lock document per dataset in the collection ``caffe_workflow_locks`` of
FiftyOne's database, inserted atomically (unique ``_id``), kept alive by a
heartbeat and taken over when its heartbeat is older than ``STALE_S`` (an
ingest that was killed).

The check is made twice: before any per-image work by the workflow's start
check (rule ``check``, ``early_check``; Snakemake reruns it only when the
dataset, data_dir or take_over changes, and it records what it checked in
``results/<dataset>/source.json``, its output), and authoritatively by the
ingest under the lock before it writes anything.
"""

from __future__ import annotations

import datetime
import os
import socket
import sys
import threading
import time
import uuid

LOCKS = "caffe_workflow_locks"
HEARTBEAT_S = 10.0
STALE_S = 60.0  # a lock whose heartbeat is older belongs to a dead ingest
WAIT_S = 1800.0  # how long an ingest waits for another one into the same dataset


class OwnershipError(RuntimeError):
    """The dataset belongs to another data_dir; the message says what to do."""


class LockTimeout(RuntimeError):
    """Another ingest into the same dataset did not finish in time."""


def conflict(dataset: str, owner: str, data_dir: str) -> OwnershipError:
    return OwnershipError(
        f"dataset '{dataset}' was built from {owner}, not from {data_dir}: this run "
        "would delete its samples. Use another dataset_name (--config "
        "dataset_name=NAME), or take the dataset over with --config "
        f"take_over_dataset=true (samples of images outside {data_dir} are then deleted)"
    )


def check_owner(
    dataset: str, info: dict, sample_paths, data_dir: str, take_over: bool
) -> str | None:
    """Raise OwnershipError unless this data_dir may write into the dataset.

    `info` is the dataset's info; `sample_paths` its samples' canonical
    filepaths (only read for a dataset that records no data_dir: one built by
    an earlier version is adopted when all its images lie in data_dir).
    Returns the owner found (None for a new or adopted dataset).
    """
    owner = info.get("data_dir")
    if take_over or owner == data_dir:
        return owner
    if owner is not None:
        raise conflict(dataset, owner, data_dir)
    prefix = data_dir.rstrip(os.sep) + os.sep
    outside = [p for p in sample_paths if not p.startswith(prefix)]
    if outside:
        raise conflict(dataset, os.path.dirname(outside[0]) + " (among others)", data_dir)
    return None


# ---------------------------------------------------------------- the lock


class DatasetLock:
    """One ingest at a time per dataset name, across folders and machines that
    share the database. `db` is the pymongo Database FiftyOne uses."""

    def __init__(self, db, dataset: str, data_dir: str, wait_s: float = WAIT_S, say=None):
        self.collection = db[LOCKS]
        self.dataset = dataset
        self.data_dir = data_dir
        self.wait_s = wait_s
        self.say = say or (lambda message: print(message, file=sys.stderr))
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread = None

    def _doc(self, now):
        return {
            "_id": self.dataset,
            "token": self.token,
            "data_dir": self.data_dir,
            "started": now,
            "heartbeat": now,
        }

    def acquire(self) -> None:
        import pymongo.errors

        deadline = time.monotonic() + self.wait_s
        told = False
        while True:
            now = _now()
            try:
                self.collection.insert_one(self._doc(now))
                break
            except pymongo.errors.DuplicateKeyError:
                pass
            held = self.collection.find_one({"_id": self.dataset})
            if held is None:
                continue  # released just now
            age = (now - _aware(held["heartbeat"])).total_seconds()
            if age > STALE_S:
                # Its ingest died (killed, machine lost): take the lock over,
                # unless someone else did so first.
                took = self.collection.find_one_and_replace(
                    {"_id": self.dataset, "token": held["token"]}, self._doc(now)
                )
                if took is not None:
                    self.say(
                        f"took over the lock of an ingest that stopped ({held['token']}, "
                        f"no sign of life for {age:.0f} s)"
                    )
                    break
                continue
            if time.monotonic() > deadline:
                raise LockTimeout(
                    f"dataset '{self.dataset}' is being written by another ingest "
                    f"({held['token']}, from {held.get('data_dir')}, since "
                    f"{_aware(held['started']):%Y-%m-%d %H:%M:%S} UTC) for longer than "
                    f"{self.wait_s / 60:.0f} min; rerun when it has finished"
                )
            if not told:
                self.say(
                    f"waiting for another ingest into dataset '{self.dataset}' "
                    f"({held['token']}, from {held.get('data_dir')}) to finish"
                )
                told = True
            time.sleep(1.0)
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.collection.update_one(
                {"_id": self.dataset, "token": self.token}, {"$set": {"heartbeat": _now()}}
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.collection.delete_one({"_id": self.dataset, "token": self.token})

    def __enter__(self) -> DatasetLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _aware(value: datetime.datetime) -> datetime.datetime:
    """pymongo returns naive UTC datetimes by default."""
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


# ---------------------------------------------------------------- the early check


def early_check(dataset: str, data_dir: str, take_over: bool) -> bool:
    """Raise OwnershipError when the dataset belongs to another data_dir.

    Returns whether the database could be asked: an unreachable database is
    not an error here (the ingest says so at the end, after the per-image
    work, which is kept), so the caller only notes it.
    """
    if take_over:
        return True
    status = _main(dataset, data_dir)
    return status == 0


def _main(dataset: str, data_dir: str) -> int:
    """0 when data_dir may write into the dataset, 2 when the database cannot
    be asked (the reason on stderr); raises OwnershipError when it belongs to
    another data_dir."""
    from caffe_workflow.database import check_database, configured_fiftyone

    try:
        check_database()
        fo = configured_fiftyone()
        if not fo.dataset_exists(dataset):
            return 0
        ds = fo.load_dataset(dataset)
        paths = [] if ds.info.get("data_dir") else ds.distinct("filepath")
    except Exception as err:  # unreachable database and the like: not our call here
        print(f"{type(err).__name__}: {err}".splitlines()[0], file=sys.stderr)
        return 2
    from caffe_workflow.caffe.layout import canonical_path

    check_owner(
        dataset, ds.info, [str(canonical_path(p)) for p in paths], data_dir, take_over=False
    )
    return 0


if __name__ == "__main__":
    try:
        status = _main(*sys.argv[1:3])
    except OwnershipError as err:
        print(err, file=sys.stderr)
        status = 3
    sys.stderr.flush()
    os._exit(status)  # skips the interpreter teardown, slow with FiftyOne loaded
