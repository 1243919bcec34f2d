"""The Compose loader: YAML with lines, anchors, interpolation, merging, validation, specs."""

from __future__ import annotations

import textwrap

import pytest

from shoal.cli.compose import ComposeError, load_project, plan_stack
from shoal.cli.compose.dotenv import parse_dotenv
from shoal.cli.compose.interpolate import InterpolationError, Interpolator
from shoal.cli.compose.yamlload import load_yaml


@pytest.fixture
def write(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return name

    return write


def load(write, text: str, env: dict[str, str] | None = None, name: str = "docker-compose.yml"):
    return load_project([write(name, text)], env or {})


def error(write, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ComposeError) as info:
        p = load(write, text, env)
        plan_stack(p, "st")
    return str(info.value)


def spec(write, text: str, env: dict[str, str] | None = None, service: str = "web"):
    return plan_stack(load(write, text, env), "st").services[f"st_{service}"]


# -- YAML and line numbers ---------------------------------------------------------

def test_error_names_file_key_path_and_line(write):
    msg = error(write, """
        version: "3.8"
        services:
          web:
            image: busybox
            deploy:
              replicas: three
        """)
    assert msg == "docker-compose.yml:6: services.web.deploy.replicas: must be an integer, " \
                  "not 'three'"


def test_yaml_syntax_error_has_a_line(write):
    msg = error(write, """
        services:
          web:
            image: busybox
           ports: [
        """)
    assert msg.startswith("docker-compose.yml:4: yaml: ")


def test_duplicate_keys_are_refused(write):
    msg = error(write, """
        services:
          web:
            image: busybox
            image: nginx
        """)
    assert msg == "docker-compose.yml:4: services.web.image: duplicate key (first defined at " \
                  "line 3)"


def test_load_yaml_marks_every_key_and_item():
    doc, marks = load_yaml("a:\n  b: [1, 2]\n  c:\n    - x\n    - y\n", "f.yml")
    assert doc == {"a": {"b": [1, 2], "c": ["x", "y"]}}
    assert marks[("a",)] == 1 and marks[("a", "b")] == 2 and marks[("a", "c", 1)] == 5


def test_scalars_keys_and_yaml_1_1_booleans(write):
    s = spec(write, """
        services:
          web:
            image: busybox
            environment:
              DEBUG: yes
              RATIO: 1.5
              EMPTY:
              ZERO: "007"
            labels:
              1: one
        """, {"EMPTY": "from-env"})
    assert s["TaskTemplate"]["ContainerSpec"]["Env"] == ["DEBUG=true", "EMPTY=from-env",
                                                         "RATIO=1.5", "ZERO=007"]
    assert s["TaskTemplate"]["ContainerSpec"]["Labels"]["1"] == "one"


def test_anchors_merge_keys_and_extensions(write):
    s = spec(write, """
        x-common: &common
          image: busybox
          environment: &env
            A: "1"
            B: "2"
          deploy:
            replicas: 2
        x-more: &more
          user: nobody
          image: ignored-by-order
        services:
          web:
            <<: [*common, *more]
            environment:
              <<: *env
              B: "3"
            x-notes: anything goes here
        """)
    cs = s["TaskTemplate"]["ContainerSpec"]
    assert cs["Image"] == "busybox" and cs["User"] == "nobody"
    assert cs["Env"] == ["A=1", "B=3"]
    assert s["Mode"] == {"Replicated": {"Replicas": 2}}


def test_errors_in_anchored_values_point_at_the_anchor(write):
    msg = error(write, """
        x-deploy: &deploy
          replicas: many
        services:
          web:
            image: busybox
            deploy: *deploy
        """)
    assert msg == "docker-compose.yml:2: services.web.deploy.replicas: must be an integer, " \
                  "not 'many'"


def test_recursive_alias(write):
    msg = error(write, """
        services: &s
          web:
            image: busybox
            labels: *s
        """)
    assert "recursive alias" in msg and msg.startswith("docker-compose.yml:1:")


# -- interpolation ----------------------------------------------------------------

def _interp(text: str, env: dict[str, str]) -> str:
    return Interpolator(env.get)(text)


@pytest.mark.parametrize("text, expected", [
    ("$A and ${A}", "a and a"),
    ("${UNSET:-d}|${EMPTY:-d}|${A:-d}", "d|d|a"),
    ("${UNSET-d}|${EMPTY-d}|${A-d}", "d||a"),
    ("${UNSET:+x}|${EMPTY:+x}|${A:+x}", "||x"),
    ("${UNSET+x}|${EMPTY+x}|${A+x}", "|x|x"),
    ("$$A costs $$5 and $${A}", "$A costs $5 and ${A}"),
    ("${UNSET:-${A}-${UNSET2:-z}}", "a-z"),
    ("${A:?must}", "a"),
    ("pre${A}post$A_B", "preapost"),
])
def test_interpolation(text, expected):
    assert _interp(text, {"A": "a", "EMPTY": ""}) == expected


@pytest.mark.parametrize("text, message", [
    ("${UNSET:?set UNSET please}", "required variable UNSET is missing a value: set UNSET "
                                   "please"),
    ("${EMPTY:?}", "required variable EMPTY is missing a value"),
    ("${UNSET?no}", "required variable UNSET is missing a value: no"),
    ("${A", 'invalid interpolation format: "${A"'),
    ("${}", 'invalid interpolation format: "${}"'),
    ("${A B}", 'invalid interpolation format: "${A B}"'),
    ("5$ each", 'invalid interpolation format: "5$ each". You may need to escape any $ with '
                "another $."),
])
def test_interpolation_errors(text, message):
    with pytest.raises(InterpolationError) as info:
        _interp(text, {"A": "a", "EMPTY": ""})
    assert str(info.value).startswith(message)


def test_empty_but_set_passes_the_dash_question_form():
    assert _interp("${EMPTY?x}", {"EMPTY": ""}) == ""


def test_interpolation_in_files_with_location_and_types(write):
    s = spec(write, """
        services:
          web:
            image: "busybox:${TAG:-latest}"
            deploy:
              replicas: ${REPLICAS}
            ports:
              - "${PORT}:80"
            labels:
              cost: "$$5"
        """, {"REPLICAS": "4", "PORT": "8081"})
    assert s["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox:latest"
    assert s["Mode"]["Replicated"]["Replicas"] == 4
    assert s["EndpointSpec"]["Ports"][0]["PublishedPort"] == 8081
    assert s["TaskTemplate"]["ContainerSpec"]["Labels"]["cost"] == "$5"
    msg = error(write, """
        services:
          web:
            image: busybox
            user: ${USER_ID:?the user id is required}
        """)
    assert msg == "docker-compose.yml:4: services.web.user: required variable USER_ID is " \
                  "missing a value: the user id is required"


def test_unset_variables_warn_once(write):
    p = load(write, """
        services:
          web:
            image: "busybox${NOPE}"
            hostname: "${NOPE}h"
        """)
    assert p.warnings == ['The "NOPE" variable is not set. Defaulting to a blank string.']


def test_extension_sections_are_not_interpolated(write):
    p = load(write, """
        x-template: "${REQUIRED:?only when used}"
        services:
          web:
            image: busybox
        """)
    assert p.warnings == []


def test_dotenv_next_to_the_first_file(write, tmp_path):
    (tmp_path / "conf").mkdir()
    write("conf/.env", """
        # defaults
        TAG=1.36
        export PORT = 9000
        GREETING="hello\\nworld"
        LITERAL='${TAG} stays'
        DERIVED=v${TAG} # comment
        """)
    f = write("conf/stack.yml", """
        services:
          web:
            image: busybox:${TAG}
            environment:
              - G=${GREETING}
              - L=${LITERAL}
              - D=${DERIVED}
            ports: ["${PORT}:80"]
        """)
    p = load_project([f], {"PORT": "7000"})
    s = plan_stack(p, "st").services["st_web"]
    cs = s["TaskTemplate"]["ContainerSpec"]
    assert cs["Image"] == "busybox:1.36"
    assert cs["Env"] == ["D=v1.36", "G=hello\nworld", "L=${TAG} stays"]
    assert s["EndpointSpec"]["Ports"][0]["PublishedPort"] == 7000  # the environment wins


def test_dotenv_parser_errors():
    assert parse_dotenv('A="multi\nline"\nB=2\n') == {"A": "multi\nline", "B": "2"}
    with pytest.raises(ValueError, match=r"\.env:1: A: unterminated double quote"):
        parse_dotenv('A="open\n')
    with pytest.raises(ValueError, match="invalid variable name"):
        parse_dotenv("BAD KEY=1\n")


# -- merging ----------------------------------------------------------------------

def test_later_files_override_earlier_ones(write):
    base = write("base.yml", """
        services:
          web:
            image: busybox
            command: ["httpd", "-f"]
            environment: ["A=1", "B=2"]
            labels: {x: "1"}
            ports: ["8080:80", "443:443"]
            volumes: ["data:/data", "/srv:/srv:ro"]
            networks: [front]
            deploy:
              replicas: 2
              placement:
                constraints: [node.role==worker, node.labels.a==1]
              resources:
                limits: {cpus: "0.5", memory: 64M}
          db:
            image: busybox
        networks:
          front: {}
        volumes:
          data: {}
        """)
    over = write("prod.yml", """
        services:
          web:
            image: busybox:1.36
            command: sleep 1
            environment:
              B: "3"
              C: "4"
            labels: ["y=2"]
            ports:
              - target: 80
                published: 9090
            volumes:
              - type: tmpfs
                target: /data
            networks:
              back:
                aliases: [api]
            deploy:
              placement:
                constraints: [node.labels.b==1]
              resources:
                limits: {memory: 128M}
        networks:
          back: {}
        """)
    plan = plan_stack(load_project([base, over], {}), "st")
    web = plan.services["st_web"]
    task = web["TaskTemplate"]
    cs = task["ContainerSpec"]
    assert cs["Image"] == "busybox:1.36" and cs["Args"] == ["sleep", "1"]
    assert cs["Env"] == ["A=1", "B=3", "C=4"]
    assert cs["Labels"] == {"x": "1", "y": "2", "com.docker.stack.namespace": "st"}
    assert [(p["PublishedPort"], p["TargetPort"]) for p in web["EndpointSpec"]["Ports"]] == \
        [(443, 443), (9090, 80)]
    assert [(m["Type"], m["Target"]) for m in cs["Mounts"]] == [("bind", "/srv"),
                                                                  ("tmpfs", "/data")]
    assert task["Networks"] == [{"Target": "st_back", "Aliases": ["api", "web"]},
                                {"Target": "st_front", "Aliases": ["web"]}]
    assert task["Placement"] == {"Constraints": ["node.labels.b==1"]}
    assert task["Resources"] == {"Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 128 << 20}}
    assert web["Mode"] == {"Replicated": {"Replicas": 2}}
    assert "st_db" in plan.services
    assert sorted(plan.networks) == ["st_back", "st_default", "st_front"]


def test_an_override_error_names_the_override_file(write):
    base = write("base.yml", "services:\n  web:\n    image: busybox\n")
    over = write("over.yml", "services:\n  web:\n    stop_grace_period: 10\n")
    with pytest.raises(ComposeError) as info:
        load_project([base, over], {})
    assert str(info.value) == "over.yml:3: services.web.stop_grace_period: must be a duration " \
                              "string like \"10s\", not 10"


# -- every supported key ---------------------------------------------------------

def test_every_supported_service_key(write, tmp_path):
    write("web.env", "FROM_FILE=1\nA=from-file\n")
    s = spec(write, """
        services:
          web:
            image: busybox:latest
            entrypoint: /bin/sh -c
            command: ["echo hi; sleep 1"]
            environment:
              A: "1"
              HOME_DIR:
            env_file: web.env
            labels: [com.example.c=1]
            hostname: web-host
            user: "1000:1000"
            working_dir: /srv
            stop_signal: SIGINT
            stop_grace_period: 1m30s
            tty: true
            stdin_open: true
            read_only: true
            init: true
            cap_add: [NET_ADMIN]
            cap_drop: [MKNOD]
            ports:
              - "8080:80"
              - "53:53/udp"
              - "9000-9001:9000-9001"
              - "7000"
              - target: 22
                published: "2222"
                protocol: tcp
                mode: host
            volumes:
              - data:/data:nocopy
              - ./site:/www:ro
              - /tmp
              - type: tmpfs
                target: /cache
                tmpfs: {size: 1m}
              - type: bind
                source: /var/log
                target: /logs
                bind: {propagation: rslave}
            healthcheck:
              test: wget -q -O - localhost
              interval: 10s
              timeout: 2s
              retries: 3
              start_period: 5s
              start_interval: 1s
            networks:
              front:
                aliases: [www]
            deploy:
              mode: replicated
              replicas: 3
              endpoint_mode: vip
              labels: {com.example.s: "1"}
              placement:
                constraints: [node.role==worker]
                preferences:
                  - spread: node.labels.zone
                max_replicas_per_node: 2
              resources:
                limits: {cpus: "1.5", memory: 1G}
                reservations: {cpus: 0.25, memory: 32m}
              restart_policy:
                condition: on-failure
                delay: 5s
                max_attempts: 3
                window: 2m
              update_config:
                parallelism: 2
                delay: 10s
                failure_action: rollback
                monitor: 30s
                max_failure_ratio: 0.1
                order: start-first
              rollback_config:
                parallelism: 0
                failure_action: continue
        networks:
          front:
            driver: overlay
            attachable: true
        volumes:
          data:
            driver: local
            driver_opts: {type: tmpfs}
            labels: {v: "1"}
        """, {"HOME_DIR": "/home/x"})
    assert s == {
        "Name": "st_web",
        "Labels": {"com.example.s": "1", "com.docker.stack.namespace": "st",
                   "com.docker.stack.image": "busybox:latest"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "busybox:latest",
                "Labels": {"com.example.c": "1", "com.docker.stack.namespace": "st"},
                "Command": ["/bin/sh", "-c"], "Args": ["echo hi; sleep 1"],
                "Hostname": "web-host",
                "Env": ["A=1", "FROM_FILE=1", "HOME_DIR=/home/x"],
                "Dir": "/srv", "User": "1000:1000", "StopSignal": "SIGINT",
                "StopGracePeriod": 90_000_000_000,
                "Healthcheck": {"Test": ["CMD-SHELL", "wget -q -O - localhost"],
                                "Interval": 10_000_000_000, "Timeout": 2_000_000_000,
                                "StartPeriod": 5_000_000_000, "StartInterval": 1_000_000_000,
                                "Retries": 3},
                "Mounts": [
                    {"Type": "volume", "Target": "/data", "Source": "st_data",
                     "VolumeOptions": {"NoCopy": True,
                                       "Labels": {"v": "1", "com.docker.stack.namespace": "st"},
                                       "DriverConfig": {"Name": "local",
                                                        "Options": {"type": "tmpfs"}}}},
                    {"Type": "bind", "Target": "/www", "Source": str(tmp_path / "site"),
                     "ReadOnly": True},
                    {"Type": "volume", "Target": "/tmp"},
                    {"Type": "tmpfs", "Target": "/cache", "TmpfsOptions": {"SizeBytes": 1 << 20}},
                    {"Type": "bind", "Target": "/logs", "Source": "/var/log",
                     "BindOptions": {"Propagation": "rslave"}}],
                "TTY": True, "OpenStdin": True, "ReadOnly": True, "Init": True,
                "CapabilityAdd": ["NET_ADMIN"], "CapabilityDrop": ["MKNOD"]},
            "Resources": {"Limits": {"NanoCPUs": 1_500_000_000, "MemoryBytes": 1 << 30},
                          "Reservations": {"NanoCPUs": 250_000_000, "MemoryBytes": 32 << 20}},
            "RestartPolicy": {"Condition": "on-failure", "Delay": 5_000_000_000,
                              "MaxAttempts": 3, "Window": 120_000_000_000},
            "Placement": {"Constraints": ["node.role==worker"],
                          "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
                          "MaxReplicas": 2},
            "Networks": [{"Target": "st_front", "Aliases": ["www", "web"]}]},
        "Mode": {"Replicated": {"Replicas": 3}},
        "UpdateConfig": {"Parallelism": 2, "Delay": 10_000_000_000, "FailureAction": "rollback",
                         "Monitor": 30_000_000_000, "MaxFailureRatio": 0.1,
                         "Order": "start-first"},
        "RollbackConfig": {"Parallelism": 0, "FailureAction": "continue"},
        "EndpointSpec": {"Mode": "vip", "Ports": [
            {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
            {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "PublishMode": "ingress"},
            {"Protocol": "tcp", "TargetPort": 9000, "PublishedPort": 9000,
             "PublishMode": "ingress"},
            {"Protocol": "tcp", "TargetPort": 9001, "PublishedPort": 9001,
             "PublishMode": "ingress"},
            {"Protocol": "tcp", "TargetPort": 7000, "PublishedPort": 0, "PublishMode": "ingress"},
            {"Protocol": "tcp", "TargetPort": 22, "PublishedPort": 2222, "PublishMode": "host"}]},
    }


def test_global_mode_healthcheck_forms_and_restart(write):
    s = spec(write, """
        services:
          web:
            image: busybox
            restart: on-failure:4
            healthcheck:
              test: ["CMD", "true"]
            deploy:
              mode: global
          off:
            image: busybox
            restart: "no"
            healthcheck:
              disable: true
        """)
    assert s["Mode"] == {"Global": {}}
    assert s["TaskTemplate"]["RestartPolicy"] == {"Condition": "on-failure", "MaxAttempts": 4}
    assert s["TaskTemplate"]["ContainerSpec"]["Healthcheck"] == {"Test": ["CMD", "true"]}
    off = plan_stack(load(write, """
        services:
          off:
            image: busybox
            restart: "no"
            healthcheck:
              disable: true
        """), "st").services["st_off"]
    assert off["TaskTemplate"]["ContainerSpec"]["Healthcheck"] == {"Test": ["NONE"]}
    assert off["TaskTemplate"]["RestartPolicy"] == {"Condition": "none"}


def test_networks_default_external_named_and_ipam(write):
    plan = plan_stack(load(write, """
        services:
          web:
            image: busybox
            networks: [front, shared, legacy]
          worker:
            image: busybox
        networks:
          front:
            driver_opts: {encrypted: ""}
            internal: true
            labels: [team=a]
            ipam:
              config:
                - subnet: 10.9.0.0/24
                  gateway: 10.9.0.1
          shared:
            external: true
          legacy:
            external:
              name: old-net
          unused: {}
        """), "st")
    assert plan.networks == {
        "st_default": {"Driver": "overlay", "Scope": "swarm", "Internal": False,
                       "Attachable": False, "Labels": {"com.docker.stack.namespace": "st"}},
        "st_front": {"Driver": "overlay", "Scope": "swarm", "Internal": True,
                     "Attachable": False,
                     "Labels": {"team": "a", "com.docker.stack.namespace": "st"},
                     "Options": {"encrypted": ""},
                     "IPAM": {"Config": [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]}},
    }
    assert plan.external_networks == ["old-net", "shared"]
    targets = [n["Target"] for n in plan.services["st_web"]["TaskTemplate"]["Networks"]]
    assert targets == ["old-net", "shared", "st_front"]
    assert plan.services["st_worker"]["TaskTemplate"]["Networks"] == [
        {"Target": "st_default", "Aliases": ["worker"]}]


# -- errors -----------------------------------------------------------------------

@pytest.mark.parametrize("body, message", [
    ("    imagee: busybox\n", "4: services.web: additional property 'imagee' is not allowed"),
    ("    environment: 5\n", "4: services.web.environment: must be a mapping or a list of "
                           "KEY=VALUE, not 5"),
    ("    ports: ['80:80:80:80']\n", "4: services.web.ports[0]: invalid port format"),
    ("    ports: [{published: 80}]\n", "4: services.web.ports[0]: target is required"),
    ("    ports: [{target: 80, mode: magic}]\n",
     "4: services.web.ports[0].mode: must be one of ingress, host, not 'magic'"),
    ("    stop_grace_period: soon\n",
     '4: services.web.stop_grace_period: time: invalid duration "soon"'),
    ("    deploy:\n      resources:\n        limits:\n          memory: lots\n",
     "7: services.web.deploy.resources.limits.memory: invalid size: 'lots'"),
    ("    deploy:\n      resources:\n        limits:\n          cpus: half\n",
     "7: services.web.deploy.resources.limits.cpus: failed to parse half as a rational number"),
    ("    deploy:\n      mode: replicated-job\n",
     "5: services.web.deploy.mode: must be one of replicated, global, not 'replicated-job'"),
    ("    deploy:\n      mode: global\n      replicas: 2\n",
     "6: services.web.deploy.replicas: replicas can only be used with replicated or "
     "replicated-job mode"),
    ("    deploy:\n      restart_policy:\n        condition: always\n",
     "6: services.web.deploy.restart_policy.condition: must be one of none, on-failure, any"),
    ("    deploy:\n      update_config:\n        parallelism: -1\n",
     "6: services.web.deploy.update_config.parallelism: must be at least 0, not -1"),
    ("    networks: [back]\n",
     '4: services.web.networks.back: service "web" references network "back", which is not '
     "declared"),
    ("    volumes: [data:/data]\n", '4: services.web.volumes[0]: undefined volume "data"'),
    ("    volumes: ['data:relative']\n", "4: services.web.volumes[0]: 'relative': the target "
                                         "must be an absolute path"),
    ("    healthcheck:\n      test: [CMD, 'true']\n      disable: true\n",
     "4: services.web.healthcheck: test and disable can't be set at the same time"),
    ("    command: \"echo 'unclosed\"\n",
     "4: services.web.command: cannot split \"echo 'unclosed\": No closing quotation"),
    ("    env_file: missing.env\n", "4: services.web.env_file[0]: open "),
    ("    restart: sometimes\n", "4: services.web.restart: must be one of no, always"),
])
def test_service_errors(write, body, message):
    msg = error(write, "services:\n  web:\n    image: busybox\n" + body)
    assert msg.startswith("docker-compose.yml:" + message), msg


def test_structural_errors(write):
    assert error(write, "services:\n  web:\n    command: x\n") == \
        "docker-compose.yml:2: services.web: image is required (shoal does not build images)"
    assert error(write, "- a\n- b\n") == \
        "docker-compose.yml:1: the top level must be a mapping, not a list"
    assert error(write, "services:\n  'bad name':\n    image: x\n").startswith(
        "docker-compose.yml:2: services.bad name: a service name may only hold")
    assert error(write, "servicez: {}\n") == \
        "docker-compose.yml:1: additional property 'servicez' is not allowed"
    with pytest.raises(ComposeError, match="open nope.yml: no such file or directory"):
        load_project(["nope.yml"], {})


def test_unsupported_keys_make_one_warning(write):
    p = load(write, """
        version: "3.9"
        name: ignored
        services:
          web:
            image: busybox
            build: .
            container_name: web
            volumes_from: [db]
            ports: ["127.0.0.1:80:80"]
            deploy:
              resources:
                limits:
                  pids: 100
          db:
            image: busybox
            build: ./db
        secrets:
          s: {file: ./s}
        """)
    assert p.warnings == ["Ignoring unsupported options: build, container_name, "
                          "deploy.resources.limits.pids, ports.host_ip, secrets, volumes_from"]
    ports = plan_stack(p, "st").services["st_web"]["EndpointSpec"]["Ports"]
    assert ports == [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 80,
                      "PublishMode": "ingress"}]


def test_stack_name_is_checked(write):
    p = load(write, "services:\n  web:\n    image: busybox\n")
    with pytest.raises(ComposeError, match="invalid stack name"):
        plan_stack(p, "-bad")
    with pytest.raises(ComposeError, match="invalid stack name"):
        plan_stack(p, "a b")


def test_example_web_stack_loads():
    import os

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = load_project([os.path.join(root, "examples", "web-stack.yml")], {})
    assert p.warnings == []
    plan = plan_stack(p, "web")
    web = plan.services["web_web"]
    assert web["Mode"] == {"Replicated": {"Replicas": 3}}
    assert web["EndpointSpec"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 80,
                                             "PublishedPort": 8080, "PublishMode": "ingress"}]
    assert "httpd -f -p 80 -h /www" in web["TaskTemplate"]["ContainerSpec"]["Args"][2]
    assert "$(hostname)" in web["TaskTemplate"]["ContainerSpec"]["Args"][2]
    assert plan.services["web_client"]["TaskTemplate"]["ContainerSpec"]["Image"] == \
        "busybox:latest"
    assert list(plan.networks) == ["web_default"]
