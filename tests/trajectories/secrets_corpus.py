"""Planted secrets, each in the shape it leaks in the wild (a log line, an env var, a URL, a
header, a JSON body, a key file), and look-alikes that must survive redaction."""

SECRETS = {
    "pg-url": ("postgresql://shop:Xq9-vL2pRt7@postgres:5432/shop", "Xq9-vL2pRt7"),
    "redis-url": ("redis://:Rd5sEcReT99@redis:6379/0", "Rd5sEcReT99"),
    "bearer-header": ("Authorization: Bearer s3cr3t-t0k3n-abcdefghij", "s3cr3t-t0k3n-abcdefghij"),
    "basic-header": ("authorization: Basic dXNlcjpwYXNzd29yZDEyMw==", "dXNlcjpwYXNzd29yZDEyMw=="),
    "jwt": ("token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzaG9wIn0.Zm9vYmFyYmF6cXV4",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzaG9wIn0.Zm9vYmFyYmF6cXV4"),
    "aws-key-id": ("aws_access_key_id=AKIAZ5EXAMPLE7QWERTY", "AKIAZ5EXAMPLE7QWERTY"),
    "aws-secret": ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
                   "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"),
    "github": ("cloning with ghp_16C7e42F292c6912E7710c838347Ae178B4a0",
               "ghp_16C7e42F292c6912E7710c838347Ae178B4a0"),
    "slack": ("webhook token xoxb-1234567890-abcdefghijklmn", "xoxb-1234567890-abcdefghijklmn"),
    "google": ("key=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"),
    "stripe": ("charging with sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    "env-password": ("DB_PASSWORD=hunter2hunter2", "hunter2hunter2"),
    "json-password": ('{"user": "app", "password": "Pa$$w0rd-2026"}', "Pa$$w0rd-2026"),
    "escaped-json": ('{\\"api_key\\": \\"k-8f7e6d5c4b3a\\"}', "k-8f7e6d5c4b3a"),
    "yaml-secret": ("client_secret: 9f8e7d6c5b4a39281706", "9f8e7d6c5b4a39281706"),
    "connection-string": ("Server=db;Database=shop;User Id=sa;Password=Sup3r!Secret;", "Sup3r!Secret"),
    "private-key": ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq98\nq4Zt0s\n"
                    "-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA7bq98"),
    "ec-key": ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkq\n-----END EC PRIVATE KEY-----", "MHcCAQEEIBkq"),
    "gcp-json": ('{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADAN'
                 '\\n-----END PRIVATE KEY-----\\n"}', "MIIEvQIBADAN"),
    "token-arg": ("--token=ab12cd34ef56gh78", "ab12cd34ef56gh78"),
}
# Text that looks close but is not a secret: must come through unchanged.
KEEP = [
    'FATAL: password authentication failed for user "shop"',
    "prompt_tokens: 812, completion_tokens: 96",
    "deployment shop/checkout rolled back from revision 3 to 2",
    "GET /api/cart HTTP/1.1 503",
    "secret postgres-credentials synced to store version 4",
    "max_tokens=1024",
]
