"""One frozen ConsumerSettings: built from the daemon's Config without copying fields by
hand, or from huey's Consumer keywords; the scheduler interval clamped in one place."""
from __future__ import annotations

import dataclasses

import pytest

import hueyd
from hueyd.consumer.consumer import SCHEDULER, Consumer
from hueyd.consumer.scheduler import Scheduler
from hueyd.consumer.settings import ConsumerSettings
from hueyd.consumer.worker import Worker
from hueyd.daemon.config import load_config
from hueyd.daemon.master import build_consumer


def test_the_daemon_hands_every_setting_of_its_config_down():
    config = load_config(None, {
        "app": "a.b", "workers": "3", "worker_type": "process", "periodic": False,
        "delay": "0.2", "max_delay": "3", "backoff": "1.5", "health_check_interval": "7",
        "health_check": False, "scheduler_interval": "5", "utc": False,
        "task_timeout": "30", "shutdown_timeout": "9"})
    settings = build_consumer(config, hueyd.MemoryHuey("s")).settings
    assert settings == ConsumerSettings(
        workers=3, worker_type="process", periodic=False, delay=0.2, max_delay=3,
        backoff=1.5, health_check_interval=7, check_worker_health=False,
        scheduler_interval=5, utc=False, task_timeout=30, shutdown_timeout=9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.workers = 4  # type: ignore[misc]


def test_embedded_keywords_build_the_settings_in_one_place():
    huey = hueyd.MemoryHuey("s")
    consumer = Consumer(huey, workers=2, initial_delay=0.5, scheduler_interval=90)
    assert consumer.settings == ConsumerSettings(workers=2, delay=0.5, scheduler_interval=60)
    assert Consumer(huey).settings == ConsumerSettings()
    with pytest.raises(TypeError):
        Consumer(huey, ConsumerSettings(), workers=2)
    with pytest.raises(TypeError):
        Consumer(huey, wrokers=2)


@pytest.mark.parametrize("given,used", [(0, 1), (1, 1), (7, 7), (60, 60), (600, 60)])
def test_the_scheduler_interval_is_clamped_once(given, used):
    assert ConsumerSettings(scheduler_interval=given).scheduler_interval == used


def test_huey_s_gevent_is_spelled_greenlet_once_for_every_part():
    assert ConsumerSettings(worker_type="gevent").worker_type == "greenlet"
    assert ConsumerSettings(worker_type="process").worker_type == "process"


def test_the_scheduler_is_the_first_member_and_the_workers_follow():
    consumer = Consumer(hueyd.MemoryHuey("s"), workers=2, scheduler_interval=3)
    consumer.start()
    try:
        roles = [m.role for m in consumer.members]
        assert isinstance(roles[SCHEDULER], Scheduler) and roles[SCHEDULER].interval == 3
        workers = [role for role, _ in consumer.worker_threads]
        assert all(isinstance(w, Worker) for w in workers) and len(workers) == 2
        assert [w.name for w in workers] == ["Worker-1", "Worker-2"]
        assert all(w.settings is consumer.settings for w in workers)
    finally:
        consumer.stop()


def test_huey_s_consumer_attributes_read_the_settings():
    """huey's Consumer exposes its options as attributes; embedded code reads them."""
    consumer = Consumer(hueyd.MemoryHuey("attrs"), workers=3, worker_type="process",
                        periodic=False)
    assert (consumer.workers, consumer.worker_type, consumer.periodic) == (3, "process", False)
    assert consumer.scheduler_interval == consumer.settings.scheduler_interval
    with pytest.raises(AttributeError):
        consumer.no_such_option  # noqa: B018
