"""docker-compose.yml and the Dockerfile, checked for structure.

Docker cannot run where these tests run, so nothing here builds an image or starts a
container: the checks are that the compose file parses, every file it and the Dockerfile
name exists, each demo service sets exactly the variables config/paywall.yaml reads, the
config it runs validates (`paywall check`) with that environment, and the `cluster`
profile is wired into a Redis Cluster the demo reaches through a redis+cluster:// URL.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from paywall.cli import main
from paywall.config import load_config

REPO = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DEMOS = [name for name, service in SERVICES.items() if "build" in service]
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-[^}]*)?\}")


def command_words(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(w) for w in command]


CLUSTER_NODES = sorted(
    name for name, service in SERVICES.items() if "--cluster-enabled" in command_words(service)
)


def build_context(service: dict[str, Any]) -> tuple[Path, Path]:
    """(context directory, Dockerfile) of a service with `build:`."""
    build = service["build"]
    if isinstance(build, str):
        build = {"context": build}
    context = (REPO / build.get("context", ".")).resolve()
    return context, context / build.get("dockerfile", "Dockerfile")


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text("utf-8"))
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def exec_form(arguments: str) -> list[str]:
    return json.loads(arguments) if arguments.startswith("[") else shlex.split(arguments)


def copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for instruction, arguments in dockerfile_instructions(dockerfile):
        if instruction in {"COPY", "ADD"}:
            words = [w for w in exec_form(arguments) if not w.startswith("--")]
            sources.extend(words[:-1])
    return sources


def effective_command(service: dict[str, Any]) -> list[str]:
    """The service's `command:`, or else the CMD of its Dockerfile."""
    if "command" in service:
        return command_words(service)
    _, dockerfile = build_context(service)
    cmds = [args for ins, args in dockerfile_instructions(dockerfile) if ins == "CMD"]
    assert cmds, f"{dockerfile} has no CMD"
    return exec_form(cmds[-1])


def compose_value(value: Any) -> str:
    """An environment value as compose would pass it with the host's variable unset."""
    return VAR.sub(lambda m: m.group(0).partition(":-")[2].rstrip("}"), str(value))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): compose_value(v) for k, v in env.items()}


def config_references(path: Path) -> set[str]:
    """Names of the ${VAR} references in a config's values (comments do not count)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            found.update(VAR.findall(node))

    walk(yaml.safe_load(path.read_text("utf-8")))
    return found


def demo_config(service: dict[str, Any]) -> Path:
    """The config file the service's command runs, as a path in the repository."""
    command = effective_command(service)
    assert command[:2] == ["paywall", "demo"], command
    assert "--config" in command, "without --config the demo runs its own config"
    context, _ = build_context(service)
    return context / command[command.index("--config") + 1]


# --- the files ---------------------------------------------------------------------------


def test_compose_parses_and_references_only_defined_services() -> None:
    assert isinstance(SERVICES, dict) and {"redis", "demo"} <= SERVICES.keys()
    for name, service in SERVICES.items():
        assert "image" in service or "build" in service, name
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], dependency


def test_host_ports_do_not_collide() -> None:
    published = [
        str(port).rsplit(":", 1)[0]
        for service in SERVICES.values()
        for port in service.get("ports", [])
    ]
    assert len(published) == len(set(published)), published


@pytest.mark.parametrize("name", DEMOS)
def test_build_context_dockerfile_and_copied_files_exist(name: str) -> None:
    context, dockerfile = build_context(SERVICES[name])
    assert dockerfile.is_file()
    ignore_file = context / ".dockerignore"
    lines = ignore_file.read_text("utf-8").splitlines() if ignore_file.exists() else []
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    sources = copy_sources(dockerfile)
    assert sources
    for source in sources:
        assert (context / source).exists(), f"{dockerfile.name}: COPY {source}: no such file"
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    # pyproject.toml names an in-tree build backend (build_backend.py): pip needs it too.
    build_system = tomllib.loads((context / "pyproject.toml").read_text("utf-8"))["build-system"]
    for folder in build_system.get("backend-path", []):
        backend = Path(folder, build_system["build-backend"] + ".py").as_posix()
        assert backend in sources, f"{dockerfile.name}: {backend} is not copied"
    # The extras the image installs exist in pyproject.toml.
    for _, arguments in dockerfile_instructions(dockerfile):
        for extra in re.findall(r"\.\[(\w+)\]", arguments):
            assert f"\n{extra} = [" in (context / "pyproject.toml").read_text("utf-8"), extra


# --- the demo services: environment and config ---------------------------------------------


@pytest.mark.parametrize("name", DEMOS)
def test_environment_is_what_the_config_reads(name: str) -> None:
    service = SERVICES[name]
    config = demo_config(service)
    assert config.is_file()
    secret_env = yaml.safe_load(config.read_text("utf-8"))["cookie"]["secret_env"]
    assert set(environment(service)) == config_references(config) | {secret_env}


@pytest.mark.parametrize("name", DEMOS)
def test_the_config_it_runs_validates(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    service = SERVICES[name]
    for variable, value in environment(service).items():
        monkeypatch.setenv(variable, value)
    assert main(["check", str(demo_config(service))]) == 0, capsys.readouterr().err
    settings = load_config(demo_config(service))
    assert settings.startup.store_url == environment(service)["REDIS_URL"]
    assert settings.cookie_secure is False  # the compose demo is plain http


# --- profile "cluster" ---------------------------------------------------------------------


def test_default_services_have_no_profile_and_cluster_ones_do() -> None:
    for name in ("redis", "demo"):
        assert "profiles" not in SERVICES[name]
    assert len(CLUSTER_NODES) >= 3
    for name in [*CLUSTER_NODES, "redis-cluster-init", "demo-cluster"]:
        assert SERVICES[name].get("profiles") == ["cluster"], name


def test_cluster_nodes_are_cluster_enabled_and_healthchecked() -> None:
    for name in CLUSTER_NODES:
        service = SERVICES[name]
        words = command_words(service)
        assert words[0] == "redis-server"
        assert words[words.index("--cluster-enabled") + 1] == "yes"
        assert str(service["image"]).startswith("redis:7")
        assert "healthcheck" in service


def test_cluster_init_creates_the_cluster_from_every_node_once() -> None:
    init = SERVICES["redis-cluster-init"]
    script = " ".join(command_words(init))
    create = script[script.index("redis-cli --cluster create") :]
    assert sorted(re.findall(r"([\w-]+):6379", create)) == CLUSTER_NODES
    assert "--cluster-yes" in create and "--cluster-replicas 0" in create
    assert "cluster_state:ok" in script  # a second `up` finds the cluster made and exits 0
    assert init.get("restart") == "no"
    assert set(init["depends_on"]) == set(CLUSTER_NODES)
    assert all(d["condition"] == "service_healthy" for d in init["depends_on"].values())


def test_cluster_demo_points_at_every_node_with_a_cluster_url() -> None:
    demo = SERVICES["demo-cluster"]
    url = environment(demo)["REDIS_URL"]
    parts = urlsplit(url)
    assert parts.scheme == "redis+cluster"
    assert parts.path in {"", "/"}
    hosts = parts.netloc.split(",")
    assert sorted(h.rsplit(":", 1)[0] for h in hosts) == CLUSTER_NODES
    assert all(h.rsplit(":", 1)[1] == "6379" for h in hosts)
    assert demo["depends_on"] == {
        "redis-cluster-init": {"condition": "service_completed_successfully"}
    }
    assert demo["build"] == SERVICES["demo"]["build"]
