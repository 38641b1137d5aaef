"""The fixes the doctor prints, in the administrator's words. Where the Vodia manual has
words for a step (its Troubleshooting list) they are quoted; docs/troubleshooting.md maps
each check to these fixes. `{name}` is the link's name."""

from __future__ import annotations

from worker.errors import SetupRequired

ADMIN_CONSENT = (
    'Admin consent is missing: click "Admin Consent" on the link\'s Setup page, or in '
    "Entra ID open App registrations > the app > API permissions and click "
    '"Grant admin consent" (Vodia manual: "Ensure both admin consent and OAuth token '
    'steps were completed").'
)
SIGN_IN_AGAIN = (
    'Click "OAuth Token" again to re-authenticate, then click Save (Vodia manual: "Verify '
    'tokens were saved after authorization"). No data or settings will be lost.'
)
BAD_CLIENT_CREDENTIAL = (
    "Create a new client secret in Entra ID (App registrations > the app > Certificates & "
    "secrets), copy its Value (not its Secret ID) and store it: "
    "`m365sync link set {name} --client-secret`."
)
EXPIRED_CLIENT_CREDENTIAL = (
    "The client secret has expired: create a new one in Entra ID (Certificates & secrets), "
    "store it with `m365sync link set {name} --client-secret` and record its expiry with "
    "`m365sync link set {name} client_secret_expires=YYYY-MM-DD`."
)
CERTIFICATE = (
    "The certificate stored with the link is not the one uploaded to the app, or it has "
    "expired: upload the certificate in Entra ID (Certificates & secrets) and store the "
    "matching PEM (certificate and key): `m365sync link set {name} --certificate FILE`."
)
WRONG_CLIENT_ID = (
    "The application (client) ID is not registered in this tenant: copy it from Entra ID "
    "(App registrations > the app > Overview) and `m365sync link set {name} client_id=...`."
)
WRONG_TENANT = (
    "The tenant was not found: copy the Directory (tenant) ID from Entra ID (Overview) and "
    "`m365sync link set {name} tenant_id=...`."
)
NO_CLIENT_CREDENTIAL = (
    "No client secret or certificate is stored for this link: "
    "`m365sync link set {name} --client-secret` (or `--certificate FILE`)."
)
IDENTITY_UNREACHABLE = (
    'Check network connectivity to Microsoft (Vodia manual: "Check network connectivity to '
    'Microsoft Graph API"): this host must reach the identity platform ({url}) over HTTPS '
    "(port 443, firewall, proxy)."
)
GRAPH_UNREACHABLE = (
    "Check network connectivity to Microsoft Graph API (Vodia manual): this host must reach "
    "{url} over HTTPS (port 443); check DNS, the firewall and any outbound proxy."
)
PBX_LOGIN_REFUSED = (
    "The PBX refused the administrator's user name or password: "
    "`m365sync link set {name} --pbx-password` (and pbx_user=... if the name is wrong)."
)
PBX_API_ACCESS = (
    "The PBX account may not use this domain's API: on the PBX give the account API access "
    "and make it an administrator of this domain (see docs/entra-app-registration.md, "
    '"Vodia API access for the admin account").'
)


def for_setup_required(exc: SetupRequired, name: str) -> str:
    """The fix for a refusal from the identity platform, by its AADSTS code or OAuth error."""
    code = (exc.error_code or "").upper()
    reason = exc.reason.lower()
    if code == "AADSTS7000215":
        return BAD_CLIENT_CREDENTIAL.format(name=name)
    if code == "AADSTS7000222":
        return EXPIRED_CLIENT_CREDENTIAL.format(name=name)
    if code in ("AADSTS700027", "AADSTS700024") or "certificate" in reason:
        return CERTIFICATE.format(name=name)
    if code == "AADSTS700016":
        return WRONG_CLIENT_ID.format(name=name)
    if code in ("AADSTS90002", "DISCOVERY"):
        return WRONG_TENANT.format(name=name)
    if code in ("AADSTS65001", "AADSTS65004", "AADSTS7000229", "CONSENT_REQUIRED"):
        return ADMIN_CONSENT
    if code == "NO_SECRET":
        return NO_CLIENT_CREDENTIAL.format(name=name)
    if code in ("INVALID_GRANT", "NO_ACCOUNT", "AADSTS50173", "AADSTS700082", "AADSTS70008"):
        return SIGN_IN_AGAIN
    if code == "INVALID_CLIENT":
        return BAD_CLIENT_CREDENTIAL.format(name=name)
    return (
        "Microsoft Entra ID refused the token request; look up the code in "
        'docs/troubleshooting.md ("Setup Required") and fix what it names.'
    )


def for_state_reason(reason: str, name: str) -> str:
    """The fix for a stored Setup-Required reason (the words `check_link` and rounds store)."""
    lowered = reason.lower()
    if lowered.startswith("not set up yet"):
        return (
            'Delegated: on the Setup page click "Admin Consent", then "OAuth Token", then Save '
            '(Vodia manual: "Ensure both admin consent and OAuth token steps were completed"). '
            f"Application: store the secret or certificate and run `m365sync link check {name}`."
        )
    if "refused the administrator credentials" in lowered:
        return PBX_LOGIN_REFUSED.format(name=name)
    if "may not use this domain" in lowered:
        return PBX_API_ACCESS
    codes = {
        "aadsts7000215": BAD_CLIENT_CREDENTIAL,
        "aadsts7000222": EXPIRED_CLIENT_CREDENTIAL,
        "aadsts700027": CERTIFICATE,
        "aadsts700024": CERTIFICATE,
        "aadsts700016": WRONG_CLIENT_ID,
        "aadsts90002": WRONG_TENANT,
        "aadsts65001": ADMIN_CONSENT,
        "aadsts7000229": ADMIN_CONSENT,
        "consent": ADMIN_CONSENT,
        "invalid_grant": SIGN_IN_AGAIN,
        "aadsts50173": SIGN_IN_AGAIN,
        "aadsts700082": SIGN_IN_AGAIN,
        "oauth token": SIGN_IN_AGAIN,
        "no client secret": NO_CLIENT_CREDENTIAL,
    }
    for needle, fix in codes.items():
        if needle in lowered:
            return fix.format(name=name)
    return (
        "Fix the cause the reason names (the failed checks above say where), then click "
        f'"Check" on the link page or run `m365sync link check {name}` to make it active.'
    )
