"""Module declarations (declarations.py): __sysfence__, sysfence.toml package data, sysfence.declare(), validation,
`sysfence manifest`, and enable("declared:...") against the real kernel in child processes."""

from __future__ import annotations

import importlib
import json
import os
import sys
import textwrap

import pytest
from conftest import SRC, child_env, run_py, sysfence_cli

from sysfence.errors import ProfileError

declare = importlib.import_module("sysfence.declarations")  # the package may export the function `declare`


def _write(root, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


@pytest.fixture
def mods(tmp_path, monkeypatch):
    """Write demo modules into tmp_path, put it on sys.path; forget them (and run-time declarations) after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(declare, "_runtime", {})
    monkeypatch.setattr(declare, "_files", {})
    before = set(sys.modules)

    def write(files: dict[str, str]):
        _write(tmp_path, files)
        return tmp_path

    yield write
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_module_attribute(mods):
    mods({"dm_attr.py": '__sysfence__ = {"capabilities": ["net-client", "dns"], "allow": ["ioctl"]}\n'})
    assert declare.of("dm_attr") is None  # not imported: its attribute is not read
    import dm_attr  # noqa: F401

    d = declare.of("dm_attr")
    assert d == declare.Declaration("dm_attr", ("net-client", "dns"), ("ioctl",), ("dm_attr.__sysfence__",))


def test_runtime_declare_merges(mods):
    mods({"dm_rt.py": '__sysfence__ = {"capabilities": ["dns"]}\n'})
    declare.declare("dm_rt", capabilities=["net-client"])
    declare.declare("dm_rt", allow=["ioctl"])
    d = declare.of("dm_rt", import_missing=True)
    assert d is not None
    assert d.capabilities == ("net-client", "dns")
    assert d.allow == ("ioctl",)
    assert d.sources == ("sysfence.declare()", "dm_rt.__sysfence__")
    assert declare.of("dm_never_declared") is None


def test_package_data_file_read_without_import(mods):
    root = mods({
        "dm_pkg/__init__.py": "raise RuntimeError('must not be imported')\n",
        "dm_pkg/sysfence.toml": """
            [module."dm_pkg.client"]
            capabilities = ["net-client"]
            [module.dm_pkg]
            capabilities = ["time"]
            allow = ["getrandom"]
        """,
    })
    d = declare.of("dm_pkg.client")
    path = os.path.join(str(root), "dm_pkg", "sysfence.toml")
    assert d == declare.Declaration("dm_pkg.client", ("net-client",), (), (f"{path}: module.dm_pkg.client",))
    assert declare.of("dm_pkg") is not None and declare.of("dm_pkg").allow == ("getrandom",)  # type: ignore[union-attr]
    assert declare.of("dm_pkg.other") is None
    assert "dm_pkg" not in sys.modules


@pytest.mark.parametrize("files, module, message", [
    ({"dm_bad.py": '__sysfence__ = {"capabilities": ["net-clent"]}\n'}, "dm_bad",
     "module 'dm_bad': dm_bad.__sysfence__: capabilities[0]: unknown capability 'net-clent' "
     "(did you mean 'net-client'?)"),
    ({"dm_bad.py": '__sysfence__ = {"capabilities": ["dns"], "alow": []}\n'}, "dm_bad",
     "module 'dm_bad': dm_bad.__sysfence__: unknown key 'alow' (expected 'capabilities', 'allow')"),
    ({"dm_bad.py": '__sysfence__ = ["dns"]\n'}, "dm_bad",
     "module 'dm_bad': dm_bad.__sysfence__: must be a table/dict with 'capabilities' (and optionally "
     "'allow'), not list"),
    ({"dm_bad.py": '__sysfence__ = {"capabilities": "dns"}\n'}, "dm_bad",
     "module 'dm_bad': dm_bad.__sysfence__: capabilities must be a list of strings, not 'dns'"),
    ({"dm_bad.py": '__sysfence__ = {"allow": ["not_a_syscall"]}\n'}, "dm_bad",
     "module 'dm_bad': dm_bad.__sysfence__: allow[0]: "),
])
def test_validation_errors(mods, files, module, message):
    mods(files)
    with pytest.raises(ProfileError) as exc:
        declare.of(module, import_missing=True)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg == message if not message.endswith(": ") else msg.startswith(message)


def test_validation_errors_declare_and_data_file(mods):
    with pytest.raises(ProfileError, match=r"^module 'x\.y': sysfence\.declare\(\): capabilities\[1\]: "
                       r"unknown capability 'nope'$"):
        declare.declare("x.y", capabilities=["dns", "nope"])
    assert declare.of("x.y") is None  # nothing registered on error
    with pytest.raises(ProfileError, match=r"^sysfence\.declare\(\): 'not a module' is not a module name$"):
        declare.declare("not a module", capabilities=["dns"])
    root = mods({"dm_pk2/__init__.py": "", "dm_pk2/sysfence.toml": '[module.os]\ncapabilities = ["dns"]\n'})
    path = os.path.join(str(root), "dm_pk2", "sysfence.toml")
    with pytest.raises(ProfileError) as exc:
        declare.of("dm_pk2")
    assert str(exc.value) == (f"module 'os': {path}: module.os: a package may declare only itself and its own "
                              "modules ('dm_pk2', dm_pk2.*)")


def test_declared_profile_errors(mods):
    mods({"dm_plain.py": "X = 1\n", "dm_net.py": '__sysfence__ = {"capabilities": ["net-client"]}\n'})
    with pytest.raises(ProfileError, match=r"^profile 'declared': module 'dm_plain' has no sysfence declaration"):
        declare.from_spec("declared:dm_net,dm_plain")
    with pytest.raises(ProfileError, match=r"^profile 'declared': name the modules"):
        declare.from_spec("declared")
    with pytest.raises(ProfileError, match=r"^module 'dm_missing': cannot be imported"):
        declare.from_spec("declared", ["dm_missing"])
    prof = declare.from_spec("declared:dm_net")
    assert prof.name == "declared:dm_net"
    assert prof.capabilities == ["memory", "net-client", "runtime", "stdio"]


APP = {
    "demo_net.py": '__sysfence__ = {"capabilities": ["net-client"]}\n',
    "demo_plain.py": "X = 1\n",
    "app.py": """
        import sys
        import demo_net, demo_plain
        print("app output", sys.argv[1:])
    """,
}


def test_manifest_demo_app_text_and_json(tmp_path):
    _write(tmp_path, APP)
    env = child_env(PYTHONPATH=f"{SRC}{os.pathsep}{tmp_path}")
    js = sysfence_cli("manifest", "--json", "--", sys.executable, "app.py", "x", env=env, cwd=tmp_path)
    assert js.returncode == 0, js.stderr
    first, rest = js.stdout.split("\n", 1)
    assert first == "app output ['x']"  # the app's own output flows through, before the report
    data = json.loads(rest)
    n = data["stdlib_modules"]
    assert data == {
        "schema_version": 1,
        "command": [sys.executable, "app.py", "x"],
        "modules_requested": [],
        "exit_status": 0,
        "declared": {"demo_net": {"capabilities": ["net-client"], "allow": [], "sources": ["demo_net.__sysfence__"]}},
        "capabilities": ["net-client"],
        "allow": [],
        "undeclared": {"demo_plain": ["demo_plain"]},
        "stdlib_modules": n,
        "errors": {},
    }
    txt = sysfence_cli("manifest", "--", sys.executable, "app.py", env=env, cwd=tmp_path)
    assert txt.returncode == 0, txt.stderr
    assert txt.stdout == (
        "app output []\n"
        "declared:\n"
        "  demo_net: net-client  (demo_net.__sysfence__)\n"
        "capabilities (union): net-client\n"
        "undeclared:\n"
        "  demo_plain (1 module)\n"
        f"{n} stdlib modules (no declaration needed)\n"
    )


def test_manifest_modules_errors_and_exit_status(tmp_path):
    _write(tmp_path, {**APP, "demo_bad.py": '__sysfence__ = {"capabilities": ["nope"]}\n',
                      "fails.py": "import demo_net\nraise SystemExit(3)\n"})
    env = child_env(PYTHONPATH=f"{SRC}{os.pathsep}{tmp_path}")
    r = sysfence_cli("manifest", "--module", "demo_net", "--module", "demo_bad", "--module", "json",
                     env=env, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stdout.startswith("declared:\n  demo_net: net-client  (demo_net.__sysfence__)\n")
    assert r.stdout.endswith("invalid declarations:\n  module 'demo_bad': demo_bad.__sysfence__: "
                             "capabilities[0]: unknown capability 'nope'\n")
    assert "stdlib modules (no declaration needed)" in r.stdout
    r = sysfence_cli("manifest", "--", sys.executable, "fails.py", env=env, cwd=tmp_path)
    assert r.returncode == 3 and "demo_net: net-client" in r.stdout
    r = sysfence_cli("manifest", env=env, cwd=tmp_path)
    assert r.returncode == 2 and "manifest needs either --module" in r.stderr


ENFORCE = """
    import errno, os, socket, sys
    import lib_net, lib_fs, lib_plain  # lib_fs declares file-create but the application does not list it
    import sysfence
    st = sysfence.enable({spec}, required=True)
    assert st.enforcing and st.profile == "declared:lib_net", st
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    print("inet socket ok")
    for what, call in (("unix socket", lambda: socket.socket(socket.AF_UNIX)),
                       ("mkdir", lambda: os.mkdir({d!r}))):
        try:
            call()
            print(what, "ALLOWED")
        except OSError as e:
            print(what, errno.errorcode[e.errno])
"""


@pytest.mark.parametrize("spec", ['"declared:lib_net"', '"declared", modules=["lib_net"]'])
def test_enable_declared_in_child(tmp_path, spec):
    _write(tmp_path, {
        "lib_net.py": '__sysfence__ = {"capabilities": ["net-client"]}\n',
        "lib_fs.py": '__sysfence__ = {"capabilities": ["file-create", "unix-sockets"]}\n',
        "lib_plain.py": "",
    })
    env = child_env(PYTHONPATH=f"{SRC}{os.pathsep}{tmp_path}")
    r = run_py(ENFORCE.format(spec=spec, d=str(tmp_path / "newdir")), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "inet socket ok\nunix socket EPERM\nmkdir EPERM\n"
    assert not (tmp_path / "newdir").exists()


def test_enable_declared_refuses_undeclared_module_in_child(tmp_path):
    _write(tmp_path, {"lib_plain.py": ""})
    env = child_env(PYTHONPATH=f"{SRC}{os.pathsep}{tmp_path}")
    r = run_py("""
        import sysfence
        try:
            sysfence.enable("declared:lib_plain", required=True)
        except sysfence.ProfileError as e:
            print(e)
        try:
            sysfence.enable("default", modules=["lib_plain"])
        except sysfence.SysfenceError as e:
            print(e)
        print(sysfence.status().state.value)
    """, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "profile 'declared': module 'lib_plain' has no sysfence declaration (__sysfence__, sysfence.declare() "
        "or sysfence.toml in its package)",
        "sysfence.enable(): modules= is only for profile='declared'",
        "disabled",
    ]


# sysfence/__init__.py is meant to export the function `declare`, which shadows the submodule attribute: the
# children below simulate that export so enable(), manifest and the bootstrap must not rely on the attribute.
SHADOW = """\
import importlib, sysfence
sysfence.declare = importlib.import_module("sysfence.declarations").declare
"""


def test_runtime_declare_enable_and_manifest_in_child(tmp_path):
    _write(tmp_path, {
        "vendored.py": "",
        "lib_fs.py": '__sysfence__ = {"capabilities": ["file-create"]}\n',
        "rt_app.py": SHADOW + textwrap.dedent("""
            import vendored, lib_fs
            sysfence.declare("vendored", capabilities=["net-client"], allow=["uname"])
            print("declared at run time")
        """),
    })
    env = child_env(PYTHONPATH=f"{SRC}{os.pathsep}{tmp_path}")
    r = run_py(SHADOW + textwrap.dedent(f"""
        import os, socket, vendored
        sysfence.declare("vendored", capabilities=["net-client"])
        st = sysfence.enable("declared", modules=["vendored"], required=True)
        socket.socket().close()
        try:
            os.mkdir({str(tmp_path / "d")!r})
        except PermissionError:
            print("mkdir EPERM")
        print(st.profile)
    """), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "mkdir EPERM\ndeclared:vendored\n"
    r = sysfence_cli("manifest", "--json", "--", sys.executable, "rt_app.py", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    first, rest = r.stdout.split("\n", 1)
    assert first == "declared at run time"
    data = json.loads(rest)
    assert data["declared"] == {
        "lib_fs": {"capabilities": ["file-create"], "allow": [], "sources": ["lib_fs.__sysfence__"]},
        "vendored": {"capabilities": ["net-client"], "allow": ["uname"], "sources": ["sysfence.declare()"]},
    }
    assert data["capabilities"] == ["file-create", "net-client"] and data["allow"] == ["uname"]
    assert "sysfence" in data["undeclared"]  # the app imported sysfence itself


def test_manifest_python_dash_m(tmp_path):
    _write(tmp_path, {**APP, "apppkg/__init__.py": "", "apppkg/__main__.py": "import demo_net\nprint('m ok')\n"})
    env = child_env(PYTHONPATH=f"{SRC}{os.pathsep}{tmp_path}")
    r = sysfence_cli("manifest", "--", sys.executable, "-m", "apppkg", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("m ok\ndeclared:\n  demo_net: net-client  (demo_net.__sysfence__)\n")
    assert "  apppkg (1 module)\n" in r.stdout
