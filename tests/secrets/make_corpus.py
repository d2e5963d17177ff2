"""Writes ``corpus.json``: secrets in their real formats with FAKE, random values.

Every value is drawn from a seeded generator in the provider's documented shape
(prefix, alphabet, length, checksums where the format has one); none is a real
credential. Each entry says what must disappear (``secret``) and how it shows up in a
log (``snippet``: bare, in a URL, after a flag, in a header...). The test and the
benchmark put every snippet into three contexts (``contexts``): a Python traceback, an
HTTP 401 log line and a JSON log line.

    python tests/secrets/make_corpus.py      # rewrites tests/secrets/corpus.json
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

HERE = Path(__file__).parent
RNG = random.Random(20261120)

UPPER, LOWER, DIGITS = string.ascii_uppercase, string.ascii_lowercase, string.digits
ALNUM = UPPER + LOWER + DIGITS
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"

CONTEXTS = {
    "traceback": (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/clients/upstream.py", line 88, in call\n'
        "    response.raise_for_status()\n"
        "app.errors.UpstreamAuthError: upstream rejected {snippet} (attempt 3 of 3)"),
    "http_401": (
        '2026-11-20T10:00:03.114Z WARN [gateway] 10.0.3.7 "POST /v1/sync HTTP/1.1" '
        "401 Unauthorized: upstream billing rejected {snippet} duration_ms=41"),
    "json": (
        '{{"@timestamp":"2026-11-20T10:00:03.114Z","level":"error","service":"billing",'
        '"logger":"app.clients","msg":"upstream rejected {json_snippet}","status":401}}'),
}
# What must survive redaction in each context (the exception, the status, the words
# around the secret).
ANCHORS = {
    "traceback": ["Traceback (most recent call last):",
                  'File "/srv/app/clients/upstream.py", line 88, in call',
                  "app.errors.UpstreamAuthError: upstream rejected ", " (attempt 3 of 3)"],
    "http_401": ['"POST /v1/sync HTTP/1.1" 401 Unauthorized: upstream billing rejected ',
                 " duration_ms=41"],
    "json": ['"level":"error"', '"msg":"upstream rejected ', '"status":401}'],
}


def r(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def luhn_complete(prefix: str, length: int) -> str:
    digits = prefix + r(DIGITS, length - len(prefix) - 1)
    for check in DIGITS:
        candidate = digits + check
        total = 0
        for index, char in enumerate(reversed(candidate)):
            number = int(char) * (2 if index % 2 else 1)
            total += number - 9 if number > 9 else number
        if total % 10 == 0:
            return candidate
    raise AssertionError


def pem(kind: str, size: int, *, der_prefix: str = "MII") -> tuple[str, str]:
    body = der_prefix + r(B64, size - len(der_prefix))
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join(lines), f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----"


def password(n: int = 14) -> str:
    # URL-safe (as a password in a URL must be, once encoded) with a digit and a symbol
    core = r(ALNUM, n - 2)
    return core[: n // 2] + RNG.choice("!*_-.~") + RNG.choice(DIGITS) + core[n // 2:]


def entries() -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def add(provider: str, secret: str, snippet: str = "{s}") -> None:
        out.append({"provider": provider, "secret": secret, "snippet": snippet.replace("{s}", secret)})

    # cloud providers
    for prefix in ("AKIA", "ASIA", "AKIA"):
        add("aws", prefix + r(UPPER + "234567", 16))
    add("aws", r(B64, 40), "aws_secret_access_key={s}")
    add("aws", r(B64, 40), "AWS_SECRET_ACCESS_KEY: {s}")
    for _ in range(2):
        key = base64.b64encode(RNG.randbytes(64)).decode()
        add("azure", key, "DefaultEndpointsProtocol=https;AccountName=ordersprod;AccountKey={s};"
                          "EndpointSuffix=core.windows.net")
    sig = base64.b64encode(RNG.randbytes(32)).decode().replace("+", "%2B").replace("/", "%2F")
    add("azure", sig, "https://ordersprod.blob.core.windows.net/exports/a.csv?sv=2022-11-02&ss=b"
                      "&srt=o&sp=r&se=2026-12-01T00:00:00Z&sig={s}")
    add("azure", r(ALNUM, 3) + RNG.choice(DIGITS) + "Q~" + r(ALNUM + "_~.-", 34),
        "client_credential {s}")
    add("gcp", "AIza" + r(URLSAFE, 35))
    add("gcp", "AIza" + r(URLSAFE, 35), "https://maps.googleapis.com/maps/api/geocode/json?key={s}")
    add("google-oauth", "GOCSPX-" + r(URLSAFE, 28))
    add("google-oauth", "ya29." + r(URLSAFE, 120))
    add("google-oauth", "1//0" + r(URLSAFE, 96), "refresh_token {s}")
    add("alibaba", "LTAI" + r(ALNUM, 20))
    add("digitalocean", "dop_v1_" + r(HEX, 64))
    add("heroku", f"{r(HEX, 8)}-{r(HEX, 4)}-{r(HEX, 4)}-{r(HEX, 4)}-{r(HEX, 12)}",
        "HEROKU_API_KEY={s}")
    add("cloudflare", "v1.0-" + r(HEX, 24) + "-" + r(HEX, 146))
    add("flyio", "fo1_" + r(URLSAFE, 43))
    add("scalingo", "tk-us-" + r(URLSAFE, 48))
    add("planetscale", "pscale_tkn_" + r(URLSAFE, 43))
    add("pulumi", "pul-" + r(HEX, 40))
    add("openshift", "sha256~" + r(URLSAFE, 43))

    # source hosting, CI, packages
    for prefix in ("ghp_", "gho_", "ghs_", "ghr_"):
        add("github", prefix + r(ALNUM, 36))
    add("github", "github_pat_" + r(ALNUM, 22) + "_" + r(ALNUM, 59))
    add("github", "ghs_" + r(ALNUM, 36), "https://x-access-token:{s}@github.com/acme/orders.git")
    add("github", "ghp_" + r(ALNUM, 36), "Authorization: token {s}")
    add("gitlab", "glpat-" + r(URLSAFE, 20))
    add("gitlab", "glrt-" + r(URLSAFE, 20))
    add("gitlab", "gldt-" + r(URLSAFE, 20))
    add("gitlab", "glpat-" + r(URLSAFE, 20), "https://oauth2:{s}@gitlab.com/acme/orders.git")
    add("npm", "npm_" + r(ALNUM, 36))
    add("npm", "npm_" + r(ALNUM, 36), "//registry.npmjs.org/:_authToken={s}")
    add("pypi", "pypi-AgEIcHlwaS5vcmc" + r(URLSAFE, 150))
    add("pypi", "pypi-AgEIcHlwaS5vcmc" + r(URLSAFE, 64), "twine upload -u __token__ -p {s} dist/*")
    add("rubygems", "rubygems_" + r(HEX, 48))
    add("clojars", "CLOJARS_" + r(LOWER + DIGITS, 60))
    add("databricks", "dapi" + r(HEX, 32))
    add("prefect", "pnu_" + r(ALNUM, 36))
    add("readme", "rdme_" + r(LOWER + DIGITS, 70))
    add("infracost", "ico-" + r(ALNUM, 32))
    add("postman", "PMAK-" + r(HEX, 24) + "-" + r(HEX, 34))
    add("doppler", "dp.pt." + r(ALNUM, 43))
    add("linear", "lin_api_" + r(ALNUM, 40))
    add("atlassian", "ATATT3" + r(ALNUM + "_-=", 186))
    add("huggingface", "hf_" + r(UPPER + LOWER, 34))
    add("age", "AGE-SECRET-KEY-1" + r("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58))
    add("dynatrace", "dt0c01." + r(UPPER + DIGITS, 24) + "." + r(UPPER + DIGITS, 64))
    add("octopus", "API-" + r(UPPER + DIGITS, 26))
    add("grafana", "glsa_" + r(ALNUM, 32) + "_" + r(HEX, 8))
    add("grafana", "glc_" + r(ALNUM, 80))
    add("sentry", "sntryu_" + r(HEX, 64))
    claims = base64.b64encode(json.dumps(
        {"iat": 1795168803, "url": "https://sentry.io", "region_url": "https://us.sentry.io",
         "org": "acme"}).encode()).decode().rstrip("=")
    add("sentry", "sntrys_" + claims + "_" + r(ALNUM, 43))
    for _ in range(2):
        key = r(HEX, 32)
        add("sentry", key, f"https://{{s}}@o{RNG.randint(100000, 999999)}.ingest.sentry.io/"
                           f"{RNG.randint(1000000, 9999999)}")
    add("sentry", r(HEX, 32), f"https://{r(HEX, 32)}:{{s}}@sentry.io/4512")

    # AI providers
    for prefix in ("sk-proj-", "sk-proj-", "sk-svcacct-", "sk-admin-"):
        add("openai", prefix + r(URLSAFE, 74) + "T3BlbkFJ" + r(URLSAFE, 74))
    add("openai", "sk-" + r(ALNUM, 20) + "T3BlbkFJ" + r(ALNUM, 20))
    add("openai", "sk-proj-" + r(URLSAFE, 156))
    add("openai", "sk-" + r(ALNUM, 48), "OPENAI_API_KEY={s}")
    add("anthropic", "sk-ant-api03-" + r(URLSAFE, 93) + "AA")
    add("anthropic", "sk-ant-api03-" + r(URLSAFE, 93) + "AA", "x-api-key: {s}")
    add("anthropic", "sk-ant-admin01-" + r(URLSAFE, 93) + "AA")
    add("cohere", r(ALNUM, 40), "COHERE_API_KEY={s}")

    # messaging, email, payments
    for _ in range(2):
        add("sendgrid", "SG." + r(URLSAFE, 22) + "." + r(URLSAFE, 43))
    add("sendinblue", "xkeysib-" + r(HEX, 64) + "-" + r(ALNUM, 16))
    for _ in range(2):
        add("twilio", "SK" + r(HEX, 32))
    for _ in range(2):
        sid = "AC" + r(HEX, 32)
        add("twilio", r(HEX, 32), f"https://{sid}:{{s}}@api.twilio.com/2010-04-01/Accounts/"
                                  f"{sid}/Messages.json")
    add("twilio", r(HEX, 32), "TWILIO_AUTH_TOKEN={s}")
    for _ in range(2):
        add("telegram", f"{RNG.randint(100000000, 9999999999)}:AA{r(URLSAFE, 33)}")
    for _ in range(2):
        add("telegram", f"{RNG.randint(100000000, 9999999999)}:AA{r(URLSAFE, 33)}",
            "https://api.telegram.org/bot{s}/sendMessage")
    for _ in range(2):
        bot_id = str(RNG.randint(10**17, 10**19 - 1))
        token = (base64.urlsafe_b64encode(bot_id.encode()).decode().rstrip("=") + "."
                 + r(URLSAFE, 6) + "." + r(URLSAFE, 38))
        add("discord", token)
    bot_id = str(RNG.randint(10**17, 10**19 - 1))
    add("discord", base64.urlsafe_b64encode(bot_id.encode()).decode().rstrip("=") + "."
        + r(URLSAFE, 6) + "." + r(URLSAFE, 27), "Authorization: Bot {s}")
    for host in ("discord.com", "discordapp.com"):
        add("discord", r(URLSAFE, 68),
            f"https://{host}/api/webhooks/{RNG.randint(10**17, 10**19 - 1)}/{{s}}")
    for _ in range(2):
        add("slack", f"xoxb-{RNG.randint(10**10, 10**12)}-{RNG.randint(10**10, 10**12)}-"
                     f"{r(ALNUM, 24)}")
    add("slack", f"xoxp-{RNG.randint(10**10, 10**12)}-{RNG.randint(10**10, 10**12)}-"
                 f"{RNG.randint(10**10, 10**12)}-{r(HEX, 32)}")
    add("slack", f"T{r(UPPER + DIGITS, 8)}/B{r(UPPER + DIGITS, 10)}/{r(ALNUM, 24)}",
        "https://hooks.slack.com/services/{s}")
    add("slack", f"xapp-1-A{r(UPPER + DIGITS, 10)}-{RNG.randint(10**12, 10**13)}-{r(HEX, 64)}")
    add("mailgun", "key-" + r(HEX, 32))
    add("mailgun", "key-" + r(HEX, 32), "api:{s}")
    add("mailgun", f"{r(HEX, 32)}-{r(HEX, 8)}-{r(HEX, 8)}", "MAILGUN_API_KEY={s}")
    add("mailchimp", r(HEX, 32) + "-us" + str(RNG.randint(10, 21)), "mailchimp_api_key={s}")
    for prefix in ("sk_live_", "rk_live_", "sk_test_"):
        add("stripe", prefix + r(ALNUM, 99))
    add("stripe", "whsec_" + r(ALNUM, 32))
    add("square", "sq0atp-" + r(URLSAFE, 22))
    add("square", "EAAA" + r(URLSAFE, 60))
    add("shippo", "shippo_live_" + r(HEX, 40))
    add("plaid", "access-production-" + f"{r(HEX, 8)}-{r(HEX, 4)}-{r(HEX, 4)}-{r(HEX, 4)}-"
                                        f"{r(HEX, 12)}", "plaid_access_token={s}")
    add("easypost", "EZAK" + r(ALNUM, 54))
    add("duffel", "duffel_live_" + r(URLSAFE, 43))
    add("flutterwave", "FLWSECK_TEST-" + r(HEX, 32) + "-X")
    for prefix in ("shpat_", "shpss_", "shpca_", "shppa_"):
        add("shopify", prefix + r(HEX, 32))
    for lead in ("EAAB", "EAAG"):
        add("meta", lead + r(ALNUM, 180))
    add("meta", "EAAM" + r(ALNUM, 120), "https://graph.facebook.com/v19.0/me?access_token={s}")

    # secret stores, observability
    for _ in range(2):
        add("vault", "hvs." + r(URLSAFE, 91))
    add("vault", "hvb." + r(URLSAFE, 138))
    add("vault", "hvs." + r(URLSAFE, 91), "X-Vault-Token: {s}")
    add("vault", "s." + r(ALNUM, 24), "VAULT_TOKEN={s}")
    add("datadog", r(HEX, 32), "DD_API_KEY={s}")
    add("newrelic", "NRAK-" + r(UPPER + DIGITS, 27), "NEW_RELIC_API_KEY={s}")
    add("1password", "ops_eyJ" + r(ALNUM, 300))

    # passwords by place: URLs, command lines, environment, configuration
    for scheme, user, host in (("postgres", "app", "db:5432/orders"),
                               ("postgresql", "billing", "pg.internal:5432/billing"),
                               ("mongodb+srv", "admin", "cluster0.mongodb.net/orders"),
                               ("amqp", "worker", "rabbitmq:5672/%2F"),
                               ("mysql", "root", "mysql:3306/shop"),
                               ("https", "deploy", "artifacts.internal/api/v1")):
        add("url-password", password(), f"{scheme}://{user}:{{s}}@{host}")
    for host in ("redis:6379/0", "cache.internal:6380"):
        add("url-password", password(), f"redis://:{{s}}@{host}")
    add("url-password", password(), "rediss://default:{s}@cache.upstash.io:6379")
    add("env", password(), "PGPASSWORD={s} psql -h db -U app orders")
    add("env", password(), "MYSQL_PWD={s}")
    add("env", password(), "export REDIS_PASSWORD='{s}'")
    add("env", password(), "DB_PASSWORD={s}")
    add("cli", password(), "mysqldump --user=app --password {s} shop")
    add("cli", password(), "pg_dump --password={s} orders")
    add("cli", password(), "vault login --method=userpass username=ops password={s}")
    add("cli", password(), "sshpass -p {s} ssh deploy@10.0.3.7")
    add("cli", password(), "sshpass -p '{s}' rsync -a dist/ deploy@web1:/srv")
    add("cli", password(), "mysql -h db -u root -p{s} shop")
    add("cli", password(), "redis-cli -h cache -a {s} ping")
    add("cli", password(), "curl -u ops:{s} https://artifacts.internal/upload")
    add("cli", r(ALNUM, 32), "app --api-key {s} --region eu-west-1")
    add("sql", password(), "ALTER USER app WITH PASSWORD '{s}'")
    add("config", password(), "password={s}")
    add("config", password(), "password: {s}")
    add("config", password(), "{'user': 'app', 'password': '{s}'}")
    add("config", password(), '"password": "{s}"')
    add("config", r(URLSAFE, 40), "client_secret={s}")
    add("config", r(URLSAFE, 40), "SECRET_KEY = '{s}'")
    add("config", r(ALNUM, 32), "api_key: {s}")
    add("config", r(ALNUM, 32), "X-API-Key: {s}")
    add("config", r(ALNUM, 32), "&apikey={s}&format=json")
    add("config", r(ALNUM, 40), "webhook_secret={s}")
    add("config", r(ALNUM, 40), "private_key={s}")
    add("config", r(HEX, 64), "signing_key: {s}")

    # tokens by place: OAuth, headers, cookies
    add("oauth", r(URLSAFE, 64), "refresh_token={s}&grant_type=refresh_token")
    add("oauth", "1//0" + r(URLSAFE, 100), '"refresh_token": "{s}"')
    add("oauth", r(URLSAFE, 43), "access_token={s}")
    add("oauth", r(URLSAFE, 43), "?code=abc&id_token={s}")
    add("header", r(URLSAFE, 40), "Authorization: Bearer {s}")
    add("header", r(URLSAFE + ".~", 48), "Bearer {s}")
    add("header", base64.b64encode(f"ops:{password()}".encode()).decode(), "Authorization: Basic {s}")
    add("header", r(ALNUM, 40), "Proxy-Authorization: Basic {s}")
    add("header", r(ALNUM, 32), "X-Auth-Token: {s}")
    add("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + base64.urlsafe_b64encode(json.dumps(
        {"sub": RNG.randint(1, 10**6), "exp": 1795168803}).encode()).decode().rstrip("=")
        + "." + r(URLSAFE, 43))
    add("jwt", "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ." + r(URLSAFE, 120) + "." + r(URLSAFE, 342),
        "id_token: {s}")
    add("cookie", r(LOWER + DIGITS, 32), "Cookie: theme=dark; sessionid={s}; csrftoken=abc")
    add("cookie", r(LOWER + DIGITS, 32), "sessionid={s}")
    add("cookie", r(URLSAFE, 43), "Set-Cookie: session={s}; Path=/; HttpOnly; Secure")
    add("cookie", r(HEX.upper(), 32), "JSESSIONID={s}")
    add("cookie", r(LOWER + DIGITS, 26), "Cookie: PHPSESSID={s}")
    add("cookie", r(URLSAFE, 40), "session_id={s}")

    # private keys: PEM blocks, multi-line, literal \n, cut short, without armour
    for kind, size in (("RSA PRIVATE KEY", 1600), ("PRIVATE KEY", 1200), ("EC PRIVATE KEY", 160),
                       ("ENCRYPTED PRIVATE KEY", 1300)):
        body, block = pem(kind, size)
        add("private-key", body, block)
    body, block = pem("OPENSSH PRIVATE KEY", 900, der_prefix="b3BlbnNzaC1rZXktdjEAAAAA")
    add("private-key", body, block)
    body, block = pem("PGP PRIVATE KEY BLOCK", 600, der_prefix="lQOYBG")
    add("private-key", body, block)
    body, block = pem("PRIVATE KEY", 900)
    add("private-key", body.replace("\n", " "), block.replace("\n", " "))   # one line, as in env
    body, block = pem("RSA PRIVATE KEY", 1200)
    cut = "\n".join(block.split("\n")[:8])                           # the log cut it short
    add("private-key", "\n".join(body.split("\n")[:7]), cut)
    body, _ = pem("RSA PRIVATE KEY", 1200)
    add("private-key", body.split("\n")[0] + body.split("\n")[1], body.split("\n")[0]
        + body.split("\n")[1])                                       # armour and lines lost

    # card numbers (Luhn-valid; the last four digits may stay)
    for prefix, length in (("4", 16), ("51", 16), ("37", 15), ("6011", 16)):
        number = luhn_complete(prefix, length)
        add("card", number[:-4], number)
    number = luhn_complete("4", 16)
    spaced = " ".join(number[i:i + 4] for i in range(0, 16, 4))
    add("card", spaced[:-4], f"card {spaced} declined")
    return out


def main() -> None:
    corpus = {
        "note": "Real formats, FAKE values (tests/secrets/make_corpus.py, seeded): none is a "
                "credential. 'secret' must not survive redaction of 'snippet' in any context.",
        "contexts": CONTEXTS,
        "anchors": ANCHORS,
        "secrets": entries(),
    }
    (HERE / "corpus.json").write_text(json.dumps(corpus, indent=1) + "\n")
    print(f"{len(corpus['secrets'])} secrets")


if __name__ == "__main__":
    main()
