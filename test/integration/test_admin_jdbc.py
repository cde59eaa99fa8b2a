# SPDX-License-Identifier: ISC
"""pgjdbc connects to the admin console and reads SHOW output, with preferQueryMode=simple
(the console, like PgBouncer's, takes the simple query protocol only) and
extra_float_digits in ignore_startup_parameters (pgjdbc puts it in its startup packet)."""

from drivers import JAVA_DIR, JDBC_JAR, java_tools, last_json_line, run_program


def test_jdbc_reads_show_pools_and_version(pg, weir, tmp_path):
    javac, java = java_tools()
    proc = run_program([javac, "-d", tmp_path, "-cp", JDBC_JAR, JAVA_DIR / "AdminJdbc.java"],
                       120, "javac AdminJdbc.java")
    assert proc.returncode == 0, f"javac failed:\n{proc.stdout}\n{proc.stderr}"
    inst = weir({"weir": {"admin_users": "scram_user",
                          "ignore_startup_parameters": "extra_float_digits"}})
    url = (f"jdbc:postgresql://127.0.0.1:{inst.port}/weir?preferQueryMode=simple"
           "&sslmode=disable&connectTimeout=15&socketTimeout=60")
    proc = run_program([java, "-cp", f"{tmp_path}:{JDBC_JAR}", "AdminJdbc", url, "scram_user",
                        pg.passwords["scram_user"]], 120, "java AdminJdbc")
    assert proc.returncode == 0, f"java failed:\n{proc.stderr[-4000:]}\n{inst.log()[-2000:]}"
    result = last_json_line(proc.stdout, "AdminJdbc")
    assert result["version"] == "weir 0.1.0"
    assert result["columns"][:4] == ["database", "user", "cl_active", "cl_waiting"]
    assert result["types"][:3] == ["text", "text", "int4"]
    assert result["pools"] >= 1
