"""Log line templates, one family per program style. Placeholders are filled per line from
the pod's context ({ts} {ms} {n} {thread} {ip} {pod_ip} {image} {version} {svc} {pid}) and,
for dependency errors, {dep} {port} {dep_ip}."""

from __future__ import annotations

import datetime as _dt
import functools

Template = tuple[str, str]


@functools.lru_cache(maxsize=4096)
def _second(s: int) -> str:
    return _dt.datetime.fromtimestamp(s, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def iso(t: float) -> str:
    """RFC 3339 with milliseconds, UTC."""
    s = int(t)
    return f"{_second(s)}.{int((t - s) * 1000):03d}Z"


def _go(level: str, msg: str, fields: str = "") -> Template:
    body = f'{{{{"level":"{level}","ts":"{{ts}}","caller":"server/http.go:{{thread}}","msg":"{msg}"'
    return level.upper(), body + (f",{fields}" if fields else "") + "}}"


def _java(level: str, logger: str, msg: str) -> Template:
    return level, f"{{ts}} {level:>5} 1 --- [nio-8080-exec-{{thread}}] {logger:<40} : {msg}"


def _py(level: str, logger: str, msg: str) -> Template:
    return level, f"{{ts}} [{{pid}}] [{level}] {logger}: {msg}"


_NGINX = (
    '{ip} - - [{ts}] "{req} HTTP/1.1" {code} {n} "-" "Mozilla/5.0 (X11; Linux x86_64)" 431 '
    "{secs} [shop-frontend-8080] [] {pod_ip}:8080 {n} {secs} {code} {thread}a{n}"
)


def _nginx(req: str, code: int, level: str = "INFO") -> Template:
    return level, _NGINX.replace("{req}", req).replace("{code}", str(code)).replace(
        "{secs}", "0.0{thread}")


STARTUP: dict[str, list[Template]] = {
    "go": [_go("info", "starting server", '"addr":":8080","version":"{version}"'),
           _go("info", "connected to dependencies")],
    "java": [_java("INFO", "c.shop.Application", "Starting Application v{version} using Java "
                   "21.0.4 with PID 1"),
             _java("INFO", "o.s.b.w.embedded.tomcat.TomcatWebServer",
                   "Tomcat started on port 8080 (http) with context path ''"),
             _java("INFO", "c.shop.Application", "Started Application in 18.3 seconds")],
    "python": [_py("INFO", "gunicorn.error", "Starting gunicorn 22.0.0"),
               _py("INFO", "gunicorn.error", "Listening at: http://0.0.0.0:8080 (1)"),
               _py("INFO", "gunicorn.error", "Booting worker with pid: {pid}")],
    "nginx": [("INFO", "NGINX Ingress controller Release: {version} Build: git-4f6f41a"),
              ("INFO", "I1129 {ts} 7 controller.go:213] \"Backend successfully reloaded\"")],
    "postgres": [("LOG", "{ts} UTC [1] LOG:  starting PostgreSQL {version} on x86_64-pc-linux-gnu"),
                 ("LOG", "{ts} UTC [1] LOG:  database system is ready to accept connections")],
    "redis": [("INFO", "1:M {ts} * Server initialized"),
              ("INFO", "1:M {ts} * Ready to accept connections tcp")],
    "coredns": [("INFO", ".:53"), ("INFO", "CoreDNS-1.11.3"), ("INFO", "linux/amd64, go1.21.11")],
    "batch": [_py("INFO", "reports", "report-generator {version} started")],
}

NORMAL: dict[str, list[Template]] = {
    "go": [_go("info", "request completed",
               '"method":"GET","path":"/api/products/{n}","status":200,"duration_ms":{ms}'),
           _go("info", "request completed",
               '"method":"POST","path":"/api/cart","status":200,"duration_ms":{ms}'),
           _go("debug", "cache hit", '"key":"session:{n}"')],
    "java": [_java("INFO", "c.shop.web.RequestLogger", "GET /api/products/{n} 200 {ms}ms"),
             _java("INFO", "c.shop.web.RequestLogger", "POST /api/orders 201 {ms}ms"),
             _java("DEBUG", "c.zaxxer.hikari.pool.HikariPool",
                   "HikariPool-1 - Pool stats (total=10, active=2, idle=8, waiting=0)")],
    "python": [_py("INFO", "app.access", '{ip} "POST /api/v1/charge HTTP/1.1" 200 {ms}ms'),
               _py("INFO", "app.access", '{ip} "GET /api/v1/health HTTP/1.1" 200 1ms')],
    "nginx": [_nginx("GET /products/{n}", 200), _nginx("POST /cart/add", 200),
              _nginx("GET /static/app.{n}.js", 200), _nginx("GET /wp-login.php", 404, "WARN")],
    "postgres": [("LOG", "{ts} UTC [{pid}] LOG:  checkpoint complete: wrote {thread} buffers"),
                 ("LOG", "{ts} UTC [{pid}] LOG:  duration: {ms} ms  statement: SELECT * FROM "
                         "products WHERE id = {n}")],
    "redis": [("INFO", "1:M {ts} * 100 changes in 300 seconds. Saving..."),
              ("INFO", "1:M {ts} * Background saving started by pid {pid}"),
              ("INFO", "{pid}:C {ts} * DB saved on disk")],
    "coredns": [("INFO", '[INFO] {ip}:{n} - {thread} "A IN catalog.shop.svc.cluster.local. udp 59 '
                         'false 512" NOERROR qr,aa,rd 116 0.000156s'),
                ("INFO", '[INFO] {ip}:{n} - {thread} "AAAA IN redis.shop.svc.cluster.local. udp '
                         '57 false 512" NOERROR qr,aa,rd 150 0.000098s')],
    "batch": [_py("INFO", "reports", "processed batch {n} of daily sales report")],
}

# Programs that log only now and then in normal operation: chance of a line per tick.
QUIET: dict[str, float] = {"postgres": 0.15, "redis": 0.08, "coredns": 0.0, "batch": 0.5}

_JAVA_TRACE = "\n\tat {frames}"


def _jtrace(exc: str, *frames: str) -> str:
    return exc + "".join(_JAVA_TRACE.replace("{frames}", f) for f in frames)


def _pytrace(exc: str, where: str) -> str:
    return (f"Traceback (most recent call last):\n  File \"/app/{where}\", line 88, in handle\n"
            f"    return self._send(request)\n{exc}")


ERRORS: dict[str, dict[str, Template]] = {
    "fatal": {
        "go": _go("fatal", "startup failed", '"error":"{error}"'),
        "java": ("ERROR", "{ts} ERROR 1 --- [main] o.s.boot.SpringApplication : Application run "
                 "failed\n" + _jtrace("java.lang.IllegalStateException: {error}",
                                      "com.shop.config.StartupChecks.verify(StartupChecks.java:41)",
                                      "org.springframework.boot.SpringApplication.run("
                                      "SpringApplication.java:335)")),
        "python": ("CRITICAL", _pytrace("RuntimeError: {error}", "app/config.py")),
        "nginx": ("FATAL", "F1129 {ts} 7 main.go:64] {error}"),
        "postgres": ("PANIC", "{ts} UTC [1] PANIC:  {error}"),
        "redis": ("WARNING", "1:M {ts} # {error}"),
        "coredns": ("FATAL", "[FATAL] {error}"),
        "batch": ("CRITICAL", _pytrace("RuntimeError: {error}", "reports/main.py")),
    },
    "memory": {
        "go": _go("warn", "high memory usage", '"heap_mb":{used_mb},"limit_mb":{limit_mb}'),
        "java": _java("WARN", "c.shop.monitoring.GcWatcher",
                      "GC overhead high: heap {used_mb}MB of {limit_mb}MB, full GC took 2.4s"),
        "python": _py("WARNING", "app.memory", "worker RSS {used_mb}MB approaching limit {limit_mb}MB"),
    },
    "refused": {
        "go": _go("error", "upstream request failed", '"upstream":"{dep}","error":"Get '
                  '\\"http://{dep}:{port}/\\": dial tcp {dep_ip}:{port}: connect: connection refused"'),
        "java": ("ERROR", _jtrace("{ts} ERROR 1 --- [nio-8080-exec-{thread}] c.shop.client.Http"
                                  "Client : I/O error on POST request for \"http://{dep}:{port}\": "
                                  "Connection refused\njava.net.ConnectException: Connection refused",
                                  "java.base/sun.nio.ch.Net.pollConnect(Native Method)")),
        "python": ("ERROR", _pytrace("requests.exceptions.ConnectionError: HTTPConnectionPool("
                                     "host='{dep}', port={port}): Max retries exceeded "
                                     "(Caused by NewConnectionError('Failed to establish a new "
                                     "connection: [Errno 111] Connection refused'))", "app/client.py")),
        "nginx": _nginx("GET /api/{dep}", 503, "ERROR"),
    },
    "upstream5xx": {
        "go": _go("error", "upstream request failed",
                  '"upstream":"{dep}","status":503,"error":"unexpected status 503 from {dep}"'),
        "java": _java("ERROR", "c.shop.client.HttpClient",
                      "Call to {dep} failed: 500 Internal Server Error"),
        "python": _py("ERROR", "app.client", "call to {dep} failed: HTTP 502"),
        "nginx": _nginx("POST /checkout", 502, "ERROR"),
    },
    "timeout": {
        "go": _go("error", "upstream request failed",
                  '"upstream":"{dep}","error":"context deadline exceeded"'),
        "java": ("ERROR", _jtrace("{ts} ERROR 1 --- [nio-8080-exec-{thread}] c.shop.client.Http"
                                  "Client : Call to {dep} timed out\njava.net.SocketTimeoutException:"
                                  " Read timed out", "java.base/java.net.SocketInputStream.read("
                                  "SocketInputStream.java:168)")),
        "python": ("ERROR", _pytrace("requests.exceptions.ReadTimeout: HTTPConnectionPool(host="
                                     "'{dep}', port={port}): Read timed out. (read timeout=3)",
                                     "app/client.py")),
        "nginx": _nginx("GET /api/{dep}", 504, "ERROR"),
    },
    "degraded": {
        "go": _go("warn", "optional dependency failed, serving degraded response",
                  '"upstream":"{dep}"'),
    },
    "dns": {
        "go": _go("error", "upstream request failed", '"error":"dial tcp: lookup '
                  'catalog.shop.svc.cluster.local on 10.96.0.10:53: server misbehaving"'),
        "java": ("ERROR", _jtrace("{ts} ERROR 1 --- [nio-8080-exec-{thread}] c.shop.client.Http"
                                  "Client : java.net.UnknownHostException: postgres: Temporary "
                                  "failure in name resolution", "java.base/java.net.InetAddress."
                                  "getAllByName0(InetAddress.java:1948)")),
        "python": ("ERROR", _pytrace("socket.gaierror: [Errno -3] Temporary failure in name "
                                     "resolution", "app/client.py")),
        "nginx": ("ERROR", "{ts} [error] 31#31: *{n} frontend.shop.svc.cluster.local could not "
                           "be resolved (2: Server failure)"),
    },
    "db_auth": {
        "java": ("ERROR", _jtrace("{ts} ERROR 1 --- [nio-8080-exec-{thread}] com.zaxxer.hikari."
                                  "pool.HikariPool : HikariPool-1 - Exception during pool "
                                  "initialization.\norg.postgresql.util.PSQLException: FATAL: "
                                  "password authentication failed for user \"shop\"",
                                  "org.postgresql.core.v3.ConnectionFactoryImpl.doAuthentication("
                                  "ConnectionFactoryImpl.java:693)")),
        "python": ("ERROR", _pytrace("psycopg2.OperationalError: connection to server at "
                                     "\"postgres\" (10.96.8.56), port 5432 failed: FATAL:  "
                                     "password authentication failed for user \"shop\"",
                                     "app/db.py")),
    },
    "db_conn": {
        "java": ("ERROR", _jtrace("{ts} ERROR 1 --- [nio-8080-exec-{thread}] o.h.engine.jdbc.spi."
                                  "SqlExceptionHelper : HikariPool-1 - Connection is not available,"
                                  " request timed out after 30000ms.\norg.postgresql.util."
                                  "PSQLException: FATAL: sorry, too many clients already",
                                  "org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse("
                                  "QueryExecutorImpl.java:2725)")),
        "python": ("ERROR", _pytrace("psycopg2.OperationalError: connection to server at "
                                     "\"postgres\" (10.96.8.56), port 5432 failed: FATAL:  sorry,"
                                     " too many clients already", "app/db.py")),
    },
    "db_disk": {
        "java": _java("ERROR", "o.h.engine.jdbc.spi.SqlExceptionHelper",
                      "ERROR: could not extend file \"base/16384/24601\": No space left on device"),
        "python": _py("ERROR", "app.db", "psycopg2.errors.DiskFull: could not extend file "
                      "\"base/16384/24601\": No space left on device"),
    },
    "tls": {
        "python": ("ERROR", _pytrace("requests.exceptions.SSLError: HTTPSConnectionPool(host="
                                     "'api.paygate.example', port=443): Max retries exceeded "
                                     "(Caused by SSLError(SSLError(1, '[SSL: "
                                     "SSLV3_ALERT_CERTIFICATE_EXPIRED] sslv3 alert certificate "
                                     "expired (_ssl.c:2580)')))", "payment/gateway.py")),
    },
    "upstream_api": {
        "python": _py("ERROR", "payment.gateway",
                      "charge failed: 502 Bad Gateway from https://api.paygate.example/v2/charges"),
    },
    "defect": {
        "go": ("ERROR", "{ts} http: panic serving {ip}:{n}: runtime error: invalid memory address "
                        "or nil pointer dereference\ngoroutine {thread} [running]:\nmain.(*Server)"
                        ".handleCart(0xc000182000)\n\t/src/server/cart.go:118 +0x1d4"),
        "java": ("ERROR", _jtrace("{ts} ERROR 1 --- [nio-8080-exec-{thread}] o.a.c.c.C.[.[.[/]."
                                  "[dispatcherServlet] : Servlet.service() threw exception\n"
                                  "java.lang.NullPointerException: Cannot invoke \"com.shop.model."
                                  "Address.getCountry()\" because \"order.shippingAddress\" is null",
                                  "com.shop.service.ShippingCalculator.quote(ShippingCalculator."
                                  "java:87)", "com.shop.web.OrderController.create("
                                  "OrderController.java:52)")),
        "python": ("ERROR", _pytrace("KeyError: 'currency'", "app/handlers.py")),
    },
    "overload": {
        "go": _go("error", "request timeout", '"error":"context deadline exceeded",'
                  '"duration_ms":3000'),
        "java": _java("WARN", "o.a.tomcat.util.threads.ThreadPoolExecutor",
                      "Thread pool exhausted: active=200, queue full, rejecting request"),
        "python": _py("CRITICAL", "gunicorn.error", "WORKER TIMEOUT (pid:{pid})"),
        "nginx": _nginx("GET /products/{n}", 504, "ERROR"),
    },
    "netloss": {
        "go": _go("error", "upstream request failed", '"error":"read tcp {pod_ip}:{n}->'
                  '{ip}:8080: read: connection reset by peer"'),
        "java": _java("WARN", "o.apache.http.impl.execchain.RetryExec",
                      "I/O exception (java.net.SocketException) caught: Connection reset; retrying"),
        "python": _py("WARNING", "urllib3.connectionpool", "Retrying (Retry(total=2)) after "
                      "connection broken by 'ProtocolError('Connection aborted.', "
                      "ConnectionResetError(104, 'Connection reset by peer'))'"),
        "nginx": ("ERROR", "{ts} [error] 31#31: *{n} upstream timed out (110: Operation timed "
                           "out) while reading response header from upstream"),
    },
}
