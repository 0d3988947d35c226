"""Planted secrets, each in the shape it leaks in the wild (a log line, an env var, a dict repr
a tool prints, a URL, a header, a JSON body, a CLI, a key file, a Kubernetes Secret), and
look-alikes that must survive redaction (hashes, ids, digests, harmless base64, words that
contain a secret's name). Each secret is (text, the secret inside it)."""

PEM_BODY = ("MIIEowIBAAKCAQEA7bq98Zt0sQ2nLk4WJ8bXoV1yGm3fHc5Ue7Tq0aR2pZs9dKv6",
            "Nw4Jf8Hl2Pq7Rt1Xy5Bc3Dv9Gm6Kn0Sz4Wa8Ue2Ti7Ob1Lp5Qr3Mx9Cy6Ev0Hk4")
SECRETS: dict[str, tuple[str, str]] = {
    "pg-url": ("postgresql://shop:Xq9-vL2pRt7@postgres:5432/shop", "Xq9-vL2pRt7"),
    "redis-url": ("redis://:Rd5sEcReT99@redis:6379/0", "Rd5sEcReT99"),
    "url-slash-password": ("DATABASE_URL=postgres://app:pa/ss9w0rd@db.internal:5432/app", "pa/ss9w0rd"),
    "url-at-password": ("connecting to mysql://root:s3cr@t!99@mysql.shop:3306/orders", "s3cr@t!99"),
    "amqp-url": ("broker amqp://guest:Gu3stPa55@rabbitmq:5672// ready", "Gu3stPa55"),
    "mongo-url": ("mongodb+srv://svc:M0ng0Pass77@cluster0.abcd.mongodb.net/db", "M0ng0Pass77"),
    "bearer-header": ("Authorization: Bearer s3cr3t-t0k3n-abcdefghij", "s3cr3t-t0k3n-abcdefghij"),
    "basic-header": ("authorization: Basic dXNlcjpwYXNzd29yZDEyMw==", "dXNlcjpwYXNzd29yZDEyMw=="),
    "bearer-in-log": ("upstream call with bearer 9f3kLmQ2xZ7pRt4vWy8s failed", "9f3kLmQ2xZ7pRt4vWy8s"),
    "jwt": ("token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzaG9wIn0.Zm9vYmFyYmF6cXV4",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzaG9wIn0.Zm9vYmFyYmF6cXV4"),
    "aws-key-id": ("aws_access_key_id=AKIAZ5EXAMPLE7QWERTY", "AKIAZ5EXAMPLE7QWERTY"),
    "aws-secret": ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
                   "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"),
    "github": ("cloning with ghp_16C7e42F292c6912E7710c838347Ae178B4a0", "ghp_16C7e42F292c6912E7710c838347Ae178B4a0"),
    "github-pat": ("GITHUB token github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv used",
                   "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv"),
    "gitlab": ("git clone https://oauth2:glpat-xY7zK2mN9pQ4rS1tU6vW@gitlab.com/x.git", "glpat-xY7zK2mN9pQ4rS1tU6vW"),
    "slack": ("webhook token xoxb-1234567890-abcdefghijklmn", "xoxb-1234567890-abcdefghijklmn"),
    "slack-webhook": ("POST https://hooks.slack.com/services/T024BE7LD/B01ABCDEF9G/aB3dE5fG7hJ9kL1mN3pQ5rS7 200",
                      "aB3dE5fG7hJ9kL1mN3pQ5rS7"),
    "discord-webhook": ("notify https://discord.com/api/webhooks/112233445566/AbCdEf-GhIjKl_MnOpQr",
                        "AbCdEf-GhIjKl_MnOpQr"),
    "google": ("key=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"),
    "google-oauth": ("refreshed access ya29.a0AfH6SMBx3kL9mQ2pR7sT1uV4wX8yZ", "ya29.a0AfH6SMBx3kL9mQ2pR7sT1uV4wX8yZ"),
    "stripe": ("charging with sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    "openai-proj": ("OPENAI key sk-proj-Ab3De5Gh7Jk9Lm1Np3Qr5St7Vw9Xy1Za3Bc5 loaded",
                    "sk-proj-Ab3De5Gh7Jk9Lm1Np3Qr5St7Vw9Xy1Za3Bc5"),
    "openai-plain": ("using sk-4f3Kd9Lm2Qp7Rs1Tv6Wx8Yz0Ab5Cd3Ef", "sk-4f3Kd9Lm2Qp7Rs1Tv6Wx8Yz0Ab5Cd3Ef"),
    "anthropic": ("x-api-key sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1", "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1"),
    "huggingface": ("HF hub login hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
    "sendgrid": ("mail via 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",
                 "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"),
    "vault": ("VAULT_TOKEN set: hvs.CAESIJ7k2mN9pQ4rS1tU6vW8xYz3", "hvs.CAESIJ7k2mN9pQ4rS1tU6vW8xYz3"),
    "npm": ("//registry.npmjs.org/:_authToken=npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            "npm_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"),
    "pypi": ("twine upload -p pypi-AgEIcHlwaS5vcmcCJGE0ZmQxY2M4LTk5ZjEtNDk0OS1hNTk5LTU4ZmU3",
             "pypi-AgEIcHlwaS5vcmcCJGE0ZmQxY2M4LTk5ZjEtNDk0OS1hNTk5LTU4ZmU3"),
    "telegram": ("bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9 polling", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9"),
    "twilio": ("twilio SK0123456789abcdef0123456789abcdef", "SK0123456789abcdef0123456789abcdef"),
    "azure-conn": ("DefaultEndpointsProtocol=https;AccountName=shopdata;AccountKey=Zm9vYmFyYmF6cXV4K3F1dXg9PQ==;"
                   "EndpointSuffix=core.windows.net", "Zm9vYmFyYmF6cXV4K3F1dXg9PQ=="),
    "azure-sas": ("blob?sv=2022-11-02&ss=b&sig=abcDEF123ghiJKL456mnoPQR789%3D", "abcDEF123ghiJKL456mnoPQR789"),
    "servicebus": ("Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=root;"
                   "SharedAccessKey=AbCdEf0123456789GhIjKl=", "AbCdEf0123456789GhIjKl="),
    "connection-string": ("Server=db;Database=shop;User Id=sa;Password=Sup3r!Secret;", "Sup3r!Secret"),
    "private-key": ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq98\nq4Zt0s\n"
                    "-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA7bq98"),
    "ec-key": ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkq\n-----END EC PRIVATE KEY-----", "MHcCAQEEIBkq"),
    "openssh-key": ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
                    "b3BlbnNzaC1rZXktdjEAAAAA"),
    "pgp-key": ("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGXk2mQBCADx7\n=AbCd\n-----END PGP PRIVATE KEY BLOCK-----",
                "lQOYBGXk2mQBCADx7"),
    "gcp-json": ('{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADAN'
                 '\\n-----END PRIVATE KEY-----\\n"}', "MIIEvQIBADAN"),
    "pem-newest-first": (f"-----END RSA PRIVATE KEY-----\n{PEM_BODY[1]}\n{PEM_BODY[0]}\n"
                         "-----BEGIN RSA PRIVATE KEY-----", PEM_BODY[0]),
    "pem-body-lines": (f"2026-12-01T10:00:01Z app[12]: {PEM_BODY[0]}\n2026-12-01T10:00:01Z app[12]: {PEM_BODY[1]}",
                       PEM_BODY[1]),
    "tls-secret-data": ("data:\n  tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\n"
                        "  tls.key: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2Z0lCQURBTkJna3Fo",
                        "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2Z0lCQURBTkJna3Fo"),
    "dockerconfigjson": ('{".dockerconfigjson": "eyJhdXRocyI6eyJyZWdpc3RyeS5zaG9wIjp7ImF1dGgiOiJkWE5s"}',
                         "eyJhdXRocyI6eyJyZWdpc3RyeS5zaG9wIjp7ImF1dGgiOiJkWE5s"),
    "ssh-privatekey": ("ssh-privatekey: c3NoLXJzYSBBQUFBQjNOemFDMXljMkVBQUFBREFRQUJBQUFC",
                       "c3NoLXJzYSBBQUFBQjNOemFDMXljMkVBQUFBREFRQUJBQUFC"),
    "token-arg": ("--token=ab12cd34ef56gh78", "ab12cd34ef56gh78"),
    "password-flag": ("psql --password Qw3rtyUi0p -h db", "Qw3rtyUi0p"),
    "password-flag-eq": ("/app/migrate --db-password=Mig8Pass!x --dry-run", "Mig8Pass!x"),
    "api-key-flag": ("exporter --api-key 7d9f2b4c6e8a0b1d started", "7d9f2b4c6e8a0b1d"),
    "mysql-p": ("command: mysql -uroot -pS3cretRoot99 -h mysql shop", "S3cretRoot99"),
    "mysqldump-p": ("cron: mysqldump -u backup -pBkp!2026x --all-databases", "Bkp!2026x"),
    "curl-u": ("curl -s -u admin:Adm1nPa55 http://grafana:3000/api/health", "Adm1nPa55"),
    "curl-user": ("curl --user 'deploy:D3pl0y!key' https://registry/v2/", "D3pl0y!key"),
    "redis-auth": ("AUTH Redi5AuthPw", "Redi5AuthPw"),
    "redis-auth-acl": ("127.0.0.1:6379> AUTH default Acl5ecretPw", "Acl5ecretPw"),
    "redis-monitor": ('1733050000.123 [0 10.0.0.5:5123] "AUTH" "M0nit0rPw9"', "M0nit0rPw9"),
    "redis-cli-a": ("redis-cli -h redis -a CliPa55w0rd ping", "CliPa55w0rd"),
    "cookie": ("Cookie: session=9a8b7c6d5e4f3a2b1c0d; theme=dark", "9a8b7c6d5e4f3a2b1c0d"),
    "set-cookie": ("Set-Cookie: sessionid=z9y8x7w6v5u4; HttpOnly; Secure", "z9y8x7w6v5u4"),
    "jsessionid": ("GET /cart;JSESSIONID=A1B2C3D4E5F6A7B8 HTTP/1.1", "A1B2C3D4E5F6A7B8"),
    "connect-sid": ("connect.sid=s%3Aabc123def456ghi789", "s%3Aabc123def456ghi789"),
    "json-password": ('{"user": "app", "password": "Pa$$w0rd-2026"}', "Pa$$w0rd-2026"),
    "escaped-json": ('{\\"api_key\\": \\"k-8f7e6d5c4b3a\\"}', "k-8f7e6d5c4b3a"),
    "yaml-secret": ("client_secret: 9f8e7d6c5b4a39281706", "9f8e7d6c5b4a39281706"),
    "single-quoted": ("password='Sq1ngle!Quoted'", "Sq1ngle!Quoted"),
    "x-api-key-header": ("X-Api-Key: 5e4d3c2b1a09f8e7", "5e4d3c2b1a09f8e7"),
}
# The same secrets in the shapes the tools print: env vars, Python dict reprs (k8s_describe_pod,
# k8s_patch_env), YAML and JSON, and Kubernetes env entries.
_NAMED = {"DB_PASSWORD": "hunter2hunter2", "SMTP_PASS": "Smtp!Pass88", "GPG_PASSPHRASE": "correct horse",
          "PAYGATE_API_KEY": "pk_9a8b7c6d5e", "STRIPE_SECRET": "st_55aa66bb77", "REDIS_PWD": "rEdIs-pwd-1",
          "SESSION_KEY": "sk3y-77-aa-bb", "oauthClientSecret": "oCs-4455-6677", "jwtSecret": "jW7-s3cr3t-x",
          "ACCESS_TOKEN": "at-9x8y7z6w5v"}
for _key, _value in _NAMED.items():
    _plain = _value.split()[0]  # shapes without quotes end a value at a space
    SECRETS[f"env {_key}"] = (f"{_key}={_plain}", _plain)
    SECRETS[f"repr {_key}"] = (f"env: {{'{_key}': '{_value}', 'LOG_LEVEL': 'info'}}", _value)
    SECRETS[f"yaml {_key}"] = (f"  {_key}: {_plain}", _plain)
    SECRETS[f"json {_key}"] = (f'{{"{_key}": "{_value}"}}', _value)
for _key in ("DB_PASSWORD", "PAYGATE_API_KEY", "SMTP_PASS"):
    _v = f"envval-{_key.lower()}-77"
    SECRETS[f"k8s-env-repr {_key}"] = (f"[{{'name': '{_key}', 'value': '{_v}', 'value_from': None}}]", _v)
    SECRETS[f"k8s-env-json {_key}"] = (f'{{"name": "{_key}", "value": "{_v}x"}}', f"{_v}x")
    SECRETS[f"k8s-env-yaml {_key}"] = (f"- name: {_key}\n  value: {_v}y", f"{_v}y")

# Text that looks close but is not a secret: must come through unchanged.
KEEP = [
    'FATAL: password authentication failed for user "shop"',
    "prompt_tokens: 812, completion_tokens: 96",
    "deployment shop/checkout rolled back from revision 3 to 2",
    "GET /api/cart HTTP/1.1 503",
    "secret postgres-credentials synced to store version 4",
    "max_tokens=1024",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "merged 9fceb02 into main",
    "uid: 7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "image: registry.shop.internal/shop/cart@sha256:4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1",
    "imageID: docker-pullable://redis@sha256:e6f8b0a0f8b0d1b2c3d4e5f60718293a4b5c6d7e8f9012345678901234567890",
    "Content-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==",
    "payload aGVsbG8gd29ybGQ= decoded",
    "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7",
    "pod cart-mx8zxnn6k7-kn4bl restarted 3 times",
    "resourceVersion: 48213, generation: 7",
    "DB_PASSWORD_FILE=/run/secrets/db-password",
    "secretKeyRef: postgres-credentials",
    "secretName: payment-tls",
    "token_type=Bearer expires_in=3600",
    "password_rotation=90d",
    "the session expired; please sign in again",
    "bypass the cache for /api/catalog",
    "compass-service responded 200",
    "passed 412 tests in 38.2s",
    "AUTH OK",
    "Failed AUTH attempt from 10.244.1.7",
    "Authorization header missing on /v1/alerts",
    "curl -s http://cart:8080/healthz",
    "mysql -h mysql -P 3306 shop",
    "psql --password-file=/etc/pgpass -h db",
    "exporter --token-ttl=3600 started",
    "kubelet: Readiness probe failed: HTTP probe failed with statuscode: 503",
    "apis/apps/v1/namespaces/shop/deployments/checkout",
    "Listening on 0.0.0.0:8080 (pid 4312)",
    "ERROR [checkout] payment timeout after 3000 ms",
    "OOMKilled: container cart exceeded 512Mi",
    "level=info msg=\"reload complete\" duration=12.5ms",
    "ssl: certificate verify failed (self signed certificate)",
    "x509: certificate has expired or is not yet valid",
    "blk_-1608999687919862906 replicated to 3 nodes",
    "req-3b1d5d1e-8c7a-4e4b-9b34-5a9b2c7d9e10 DELETE /v2/servers",
    "org.apache.hadoop.hdfs.server.datanode.DataNode: Receiving block",
    "CBS    Loaded Servicing Stack v6.1.7601.23505",
    "ETag: W/\"5f2b1c8e9d\"",
    "secrets: 3 synced, 0 failed",
    "tokens per second: 27.3",
    "api_key_id=pay-2026-01 rotated",
    "credentials_expiry=2026-12-31",
    "the secret store answered in 12 ms",
    "grant_type=client_credentials scope=read",
    "kubectl get secret payment-tls -o yaml",
    "--api-key-file /etc/exporter/key",
]
# Shapes where one key = value sits inside another's value (a log level, a message field).
SECRETS["after-a-prefix"] = ("ERROR: AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPL2KEY",
                             "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPL2KEY")
SECRETS["inside-a-field"] = ('msg="retrying with DB_PASSWORD=Inner!Pw42 set"', "Inner!Pw42")
