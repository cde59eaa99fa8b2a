// SPDX-License-Identifier: ISC
//
// pgjdbc PreparedStatements from concurrent threads, for weir's transaction pooling tests
// (test_tx_jdbc.py). With prepareThreshold=1 in the URL every PreparedStatement is a
// named server-side statement from its first execution on; later executions send only
// Bind/Execute, from whichever server the pooler hands the connection.
//
// usage: java -cp .:postgresql.jar TxJdbc URL USER PASSWORD THREADS ITERATIONS
// Prints one JSON line: {"driver", "java", "ok", "errorCount", "errors", "serversPerThread",
// "inserted"}.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

public class TxJdbc {
    static final class Result {
        int ok;
        int servers;
        int inserted;
    }

    static void check(boolean cond, String what) {
        if (!cond) {
            throw new IllegalStateException("wrong result: " + what);
        }
    }

    static Result runThread(String url, Properties props, int t, int iterations)
            throws SQLException {
        Result res = new Result();
        Set<Integer> pids = new HashSet<>();
        try (Connection conn = DriverManager.getConnection(url, props)) {
            conn.setAutoCommit(true);
            try (PreparedStatement add =
                         conn.prepareStatement("SELECT ?::int + ?::int, pg_backend_pid()");
                 PreparedStatement txt =
                         conn.prepareStatement("SELECT ?::text || '-' || ?::text");
                 PreparedStatement ins = conn.prepareStatement(
                         "INSERT INTO jdbc_rows (thread, n) VALUES (?, ?)");
                 PreparedStatement cnt = conn.prepareStatement(
                         "SELECT count(*) FROM jdbc_rows WHERE thread = ?")) {
                for (int i = 0; i < iterations; i++) {
                    add.setInt(1, t);
                    add.setInt(2, i);
                    try (ResultSet rs = add.executeQuery()) {
                        check(rs.next() && rs.getInt(1) == t + i, "add " + t + " " + i);
                        pids.add(rs.getInt(2));
                    }
                    res.ok++;

                    txt.setString(1, "t" + t);
                    txt.setInt(2, i);
                    try (ResultSet rs = txt.executeQuery()) {
                        check(rs.next() && rs.getString(1).equals("t" + t + "-" + i),
                                "txt " + t + " " + i);
                    }
                    res.ok++;

                    if (i % 4 == 0) {
                        conn.setAutoCommit(false);
                        ins.setInt(1, t);
                        ins.setInt(2, i);
                        check(ins.executeUpdate() == 1, "insert " + t + " " + i);
                        cnt.setInt(1, t);
                        try (ResultSet rs = cnt.executeQuery()) {
                            check(rs.next() && rs.getInt(1) == res.inserted + 1,
                                    "count " + t + " " + i);
                        }
                        conn.commit();
                        conn.setAutoCommit(true);
                        res.inserted++;
                        res.ok++;
                    }
                }
            }
        }
        res.servers = pids.size();
        return res;
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    public static void main(String[] args) throws Exception {
        String url = args[0];
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        int threads = Integer.parseInt(args[3]);
        int iterations = Integer.parseInt(args[4]);

        ExecutorService exec = Executors.newFixedThreadPool(threads);
        List<Future<Result>> futures = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int thread = t;
            futures.add(exec.submit(() -> runThread(url, props, thread, iterations)));
        }
        exec.shutdown();
        exec.awaitTermination(120, TimeUnit.SECONDS);

        int ok = 0;
        int errorCount = 0;
        List<String> errors = new ArrayList<>();
        List<Integer> servers = new ArrayList<>();
        List<Integer> inserted = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            try {
                Result r = futures.get(t).get(1, TimeUnit.SECONDS);
                ok += r.ok;
                servers.add(r.servers);
                inserted.add(r.inserted);
            } catch (Exception e) {
                errorCount++;
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                if (errors.size() < 5) {
                    errors.add(quote("thread " + t + ": " + cause));
                }
                servers.add(0);
                inserted.add(0);
            }
        }
        String driver = org.postgresql.util.DriverInfo.DRIVER_VERSION;
        System.out.println("{\"driver\": " + quote(String.valueOf(driver))
                + ", \"java\": " + quote(System.getProperty("java.version"))
                + ", \"ok\": " + ok
                + ", \"errorCount\": " + errorCount
                + ", \"errors\": " + errors
                + ", \"serversPerThread\": " + servers
                + ", \"inserted\": " + inserted + "}");
        System.exit(0);
    }
}
