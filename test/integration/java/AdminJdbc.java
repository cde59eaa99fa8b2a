// SPDX-License-Identifier: ISC
//
// pgjdbc on weir's admin console (test_admin_jdbc.py): the console takes the simple query
// protocol only, so the URL carries preferQueryMode=simple, as it must for PgBouncer's.
// Runs SHOW POOLS and SHOW VERSION through a plain Statement.
//
// usage: java -cp .:postgresql.jar AdminJdbc URL USER PASSWORD
// Prints one JSON line: {"columns": [...], "types": [...], "version": "...", "pools": N}.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.Statement;
import java.util.Properties;

public class AdminJdbc {
    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        StringBuilder cols = new StringBuilder(), types = new StringBuilder();
        String version;
        int pools = 0;
        try (Connection conn = DriverManager.getConnection(args[0], props);
             Statement st = conn.createStatement()) {
            try (ResultSet rs = st.executeQuery("SHOW POOLS")) {
                ResultSetMetaData md = rs.getMetaData();
                for (int i = 1; i <= md.getColumnCount(); i++) {
                    cols.append(i > 1 ? "," : "").append(quote(md.getColumnName(i)));
                    types.append(i > 1 ? "," : "").append(quote(md.getColumnTypeName(i)));
                }
                while (rs.next())
                    pools++;
            }
            try (ResultSet rs = st.executeQuery("SHOW VERSION")) {
                rs.next();
                version = rs.getString(1);
            }
        }
        System.out.println("{\"columns\": [" + cols + "], \"types\": [" + types
                           + "], \"version\": " + quote(version) + ", \"pools\": " + pools + "}");
    }
}
