"""The production profile's endpoints, as Rasa itself reads them (no services needed)."""

from __future__ import annotations

from bot.production.profile import ProductionProfile


def test_rasa_reads_the_production_endpoints_with_every_value_intact(tmp_path):
    from rasa.core.utils import AvailableEndpoints

    profile = ProductionProfile(
        postgres_url="postgresql://sen:p%40ss%22word@db.internal:5433/sen",
        tracker_db="sen_tracker",
        redis_url="redis://:red%3Apass@cache.internal:6380/3",
        rabbitmq_url="amqp://mq:secret@broker.internal:5672/sen-vhost",
        rabbitmq_queue="sen_events",
    )
    path = profile.write_endpoints(tmp_path, "http://127.0.0.1:5055/webhook")
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # it holds passwords
    endpoints = AvailableEndpoints.read_endpoints(str(path))
    tracker, lock, broker = endpoints.tracker_store, endpoints.lock_store, endpoints.event_broker
    assert (
        tracker.type == "bot.production.tracker_store.ResilientSQLTrackerStore"
    )  # retries, reports
    assert (tracker.url, tracker.kwargs["db"], tracker.kwargs["dialect"]) == (
        "db.internal",
        "sen_tracker",
        "postgresql",
    )
    assert tracker.kwargs["password"] == 'p@ss"word' and tracker.kwargs["port"] == 5433
    assert (lock.type, lock.url, lock.kwargs["db"]) == ("redis", "cache.internal", 3)
    assert lock.kwargs["password"] == "red:pass"
    assert broker.url == "amqp://mq:secret@broker.internal:5672/sen-vhost"
    # Rasa's pika broker that finishes publishing before Rasa stops, found as Rasa finds it.
    from rasa.shared.utils.common import class_from_module_path

    from bot.production.event_broker import DrainingPikaEventBroker

    assert class_from_module_path(broker.type) is DrainingPikaEventBroker
    assert broker.kwargs["queues"] == ["sen_events"]
    assert endpoints.action.url == "http://127.0.0.1:5055/webhook"


def test_our_services_use_postgresql_and_share_socketio_rooms_through_redis():
    env = ProductionProfile.from_env({"SEN_POSTGRES_URL": "postgresql://u@h/sen"}).service_env()
    assert env["SEN_HANDOFF_DB_URL"] == env["SEN_EVENTS_DB_URL"] == "postgresql://u@h/sen"
    assert env["SEN_TRACKER_DB_URL"] == "postgresql://u@h/sen_tracker"
    assert env["SEN_SOCKETIO_REDIS_URL"] == "redis://127.0.0.1:6379/1"
    assert env["SEN_LIMITS_REDIS_URL"] == "redis://127.0.0.1:6379/1"


def test_the_deployment_files_carry_every_setting_the_profile_derives():
    """The systemd environment file, the deployment guide and the Rasa chart's values must not
    fall behind bot.production.profile: a setting missing there is a cluster that silently acts per
    instance (rooms, rate limits) or writes to the wrong database."""
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    derived = set(ProductionProfile.from_env({}).service_env())
    env_file = (root / "deploy" / "sen.env.example").read_text()
    guide = (root / "docs" / "deployment.md").read_text()
    for name in derived:
        assert f"\n{name}=" in env_file, f"{name} missing from deploy/sen.env.example"
        assert f"`{name}`" in guide, f"{name} missing from docs/deployment.md"
    values = yaml.safe_load((root / "deploy" / "helm" / "values-rasa.yaml").read_text())
    rasa_env = {item["name"] for item in values["extraEnv"]}
    # What the Rasa process itself reads of the derived settings.
    assert {"SEN_SOCKETIO_REDIS_URL", "SEN_LIMITS_REDIS_URL", "SEN_HANDOFF_DB_URL"} <= rasa_env
