from __future__ import annotations

import json
import logging
import os

import pytest

from sereport import config
from sereport.devices.registry import Registry, RegistryError, StorageError

LICENCE = "ZKZCPI000120190807142601"


@pytest.fixture
def cfg(write_config):
    return config.load(write_config(f"""
        dev_sno: {LICENCE}
        devices:
          - {{url: "rtsp://127.0.0.1:8554/seed", name: seeded,
              id: 95274d2c-0941-4d96-b032-ab200f81362c}}
    """))


@pytest.fixture
def registry(cfg):
    return Registry(cfg.registry_path, cfg.devices, cfg.path)


def test_add_infers_and_persists(registry, cfg):
    device = registry.add({"url": "rtsp://admin:pw@127.0.0.2:554/ch1", "name": "door"})
    assert (device.type, device.ip, device.ep_type, device.probe_kind) == ("rtsp", "127.0.0.2", "2", "rtsp")
    assert len(device.id) == 36
    again = Registry(cfg.registry_path, cfg.devices, cfg.path)
    assert [d.name for d in again.devices()] == ["seeded", "door"]
    assert oct(os.stat(cfg.registry_path).st_mode & 0o777) == "0o600"  # it holds passwords


def test_each_add_gets_a_new_uuid(registry):
    first = registry.add({"url": "127.0.0.2"})
    second = registry.add({"url": "127.0.0.3"})
    assert first.id != second.id


def test_duplicate_url_names_the_existing_device(registry):
    first = registry.add({"url": "rtsp://127.0.0.2/ch1", "name": "door"})
    with pytest.raises(RegistryError) as caught:
        registry.add({"url": "rtsp://127.0.0.2/ch1", "name": "again"})
    assert str(caught.value) == (f"url 'rtsp://127.0.0.2/ch1' is already used by device {first.id} "
                                 f"door (rtsp://127.0.0.2/ch1) (in {registry.path})")


def test_duplicate_of_a_config_device_names_the_config_file(registry, cfg):
    with pytest.raises(RegistryError) as caught:
        registry.add({"url": "rtsp://127.0.0.1:8554/seed"})
    assert f"(in {cfg.path})" in str(caught.value) and "seeded" in str(caught.value)


def test_duplicate_id(registry):
    with pytest.raises(RegistryError, match="id '95274d2c-0941-4d96-b032-ab200f81362c' is already used"):
        registry.add({"url": "127.0.0.2", "id": "95274d2c-0941-4d96-b032-ab200f81362c"})


def test_duplicate_error_never_shows_a_password(registry):
    registry.add({"url": "rtsp://admin:S3cret@127.0.0.2/ch1"})
    with pytest.raises(RegistryError) as caught:
        registry.add({"url": "rtsp://admin:S3cret@127.0.0.2/ch1"})
    assert "S3cret" not in str(caught.value) and "admin:***@" in str(caught.value)


def test_invalid_device_is_refused_with_the_field(registry):
    with pytest.raises(RegistryError, match="device.ep_type: '7' is not a device class"):
        registry.add({"url": "127.0.0.2", "ep_type": "7"})


def test_remove_by_id_or_url(registry):
    a = registry.add({"url": "127.0.0.2"})
    b = registry.add({"url": "127.0.0.3"})
    assert registry.remove(a.id) == a
    assert registry.remove("127.0.0.3") == b
    assert [d.name for d in registry.devices()] == ["seeded"]
    with pytest.raises(RegistryError, match="no device with id or url '127.0.0.3'"):
        registry.remove("127.0.0.3")


def test_config_device_cannot_be_removed_here(registry, cfg):
    with pytest.raises(RegistryError, match=f"is listed in {cfg.path}; remove it there"):
        registry.remove("95274d2c-0941-4d96-b032-ab200f81362c")


def test_crash_before_rename_keeps_the_old_registry(registry, monkeypatch):
    registry.add({"url": "127.0.0.2", "name": "kept"})
    before = open(registry.path, "rb").read()

    def crash(*args):
        raise OSError(5, "simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StorageError, match="simulated crash before the rename; nothing changed"):
        registry.add({"url": "127.0.0.3"})
    monkeypatch.undo()
    assert open(registry.path, "rb").read() == before
    assert [f for f in os.listdir(os.path.dirname(registry.path)) if f.endswith(".tmp")] == []
    assert [d.name for d in Registry(registry.path).devices()] == ["kept"]


def test_crash_mid_write_keeps_the_old_registry(registry, monkeypatch):
    from sereport import atomic

    registry.add({"url": "127.0.0.2", "name": "kept"})
    before = open(registry.path, "rb").read()
    real_fdopen = atomic.os.fdopen

    class PowerCut:
        """A file that takes half of what is written, then the power goes."""

        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: PowerCut(real_fdopen(fd, mode)))
    with pytest.raises(KeyboardInterrupt):
        registry.add({"url": "127.0.0.3"})
    monkeypatch.undo()
    assert open(registry.path, "rb").read() == before
    assert [d.name for d in Registry(registry.path).devices()] == ["kept"]


def test_leftover_temp_file_from_a_real_crash_is_ignored(registry):
    registry.add({"url": "127.0.0.2"})
    leftover = os.path.join(os.path.dirname(registry.path), ".devices.abc.tmp")
    with open(leftover, "w") as handle:
        handle.write('{"devices": [')
    assert len(Registry(registry.path).devices()) == 1


def test_broken_file_keeps_last_good_devices_and_refuses_writes(registry, caplog):
    registry.add({"url": "127.0.0.2"})
    assert len(registry.devices()) == 2
    with open(registry.path, "w") as handle:
        handle.write('{"devices": [ {"url": ')
    with caplog.at_level(logging.ERROR):
        assert len(registry.devices()) == 2  # the daemon keeps what it had
        assert len(registry.devices()) == 2
    assert len(caplog.records) == 1 and "not a valid registry file" in caplog.records[0].getMessage()
    with pytest.raises(RegistryError, match="not a valid registry file"):
        registry.add({"url": "127.0.0.3"})


def test_hand_edited_duplicate_is_refused(registry, cfg):
    os.makedirs(os.path.dirname(registry.path))
    with open(registry.path, "w") as handle:
        json.dump({"devices": [{"url": "rtsp://127.0.0.1:8554/seed"}]}, handle)
    with pytest.raises(RegistryError, match="url already used by seeded"):
        registry.load()


def test_unwritable_state_dir_says_what_to_do(write_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cfg = config.load(write_config(f"dev_sno: X\nstate_dir: {blocker}/state\n"))
    with pytest.raises(RegistryError, match="cannot write: Not a directory .*set state_dir"):
        Registry(cfg.registry_path).add({"url": "127.0.0.2"})


def test_a_new_password_is_the_same_device(registry):
    registry.add({"url": "rtsp://admin:old@127.0.0.9/ch1", "name": "cam"})
    with pytest.raises(RegistryError, match="url 'rtsp://admin:\\*\\*\\*@127.0.0.9/ch1' is already used"):
        registry.add({"url": "rtsp://admin:new@127.0.0.9/ch1"})
    with pytest.raises(RegistryError, match="already used"):
        registry.add({"url": "rtsp://127.0.0.9/ch1"})


def test_lookup_by_the_url_as_list_shows_it(registry):
    added = registry.add({"url": "rtsp://admin:s3cret@127.0.0.9/ch1?token=abc"})
    shown = "rtsp://admin:***@127.0.0.9/ch1?token=***"
    assert added.public()["url"] == shown
    assert registry.find(shown) == added
    assert registry.find("rtsp://admin:other@127.0.0.9/ch1?token=abc") == added
    assert registry.remove(shown) == added


def test_config_file_refuses_the_same_camera_twice(write_config):
    path = write_config(f"dev_sno: {LICENCE}\ndevices:\n  - url: rtsp://a:1@127.0.0.9/x\n"
                        "  - url: rtsp://a:2@127.0.0.9/x\n")
    with pytest.raises(config.ConfigError, match=r"devices\[1\]\.url: 'rtsp://a:\*\*\*@127.0.0.9/x' "
                                                 r"is already used by devices\[0\]"):
        config.load(path)


def test_root_leaves_the_registry_to_the_directory_owner(write_config, tmp_path):
    """The service runs as its own user; `devices add` run as root must not leave it a
    registry (or a lock file) it cannot read."""
    import os as os_module

    from peers import need

    need(os_module.geteuid() == 0, "root (to act as root for another user's directory)")
    state = tmp_path / "svc"
    state.mkdir(mode=0o700)
    os_module.chown(state, 65534, 65534)
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\nstate_dir: {state}\n"))
    Registry(cfg.registry_path).add({"url": "/etc/hostname"})
    st = (state / "devices.json").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (65534, 65534, 0o600)
    st = (state / "devices.json.lock").stat()
    assert (st.st_uid, st.st_gid) == (65534, 65534)


def test_a_masked_url_that_fits_several_devices_names_none(registry):
    one = registry.add({"url": "rtsp://127.0.0.9/cam?channel=1&subtype=0"})
    two = registry.add({"url": "rtsp://127.0.0.9/cam?channel=2&subtype=0"})
    shown = "rtsp://127.0.0.9/cam?channel=***&subtype=***"
    with pytest.raises(RegistryError, match="fits 2 devices"):
        registry.remove(shown)
    assert {d.id for d in registry.devices()} >= {one.id, two.id}  # nothing removed
    assert registry.remove("rtsp://127.0.0.9/cam?channel=2&subtype=0") == two


def test_the_lock_file_is_never_followed(write_config, tmp_path):
    import os as os_module

    cfg = config.load(write_config(f"dev_sno: {LICENCE}\n"))
    os_module.makedirs(os_module.path.dirname(cfg.registry_path), exist_ok=True)
    target = tmp_path / "precious"
    target.write_text("root's\n")
    os_module.symlink(target, cfg.registry_path + ".lock")
    with pytest.raises(RegistryError, match="cannot write"):
        Registry(cfg.registry_path).add({"url": "/etc/hostname"})
    assert target.read_text() == "root's\n"
