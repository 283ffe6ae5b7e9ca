"""App Service leaves a Key Vault reference it cannot resolve as literal text; that text is public
(it is in infra.bicep), so the gateway must treat it as unset, never as a key."""
from __future__ import annotations

from shared.config import Settings

REF = "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/llmproxy-admin-key/)"


def test_an_unresolved_reference_is_not_a_value():
    s = Settings.from_env({"LLMPROXY_ADMIN_KEY": REF, "LLMPROXY_KEY_PEPPER": "resolved-pepper",
                           "AZURE_OPENAI_API_KEY": REF.replace("llmproxy-admin-key", "aoai")})
    assert s.admin_key == ""                       # the admin API stays off, not open
    assert s.key_pepper == "resolved-pepper"
    assert s.get("AZURE_OPENAI_API_KEY") is None   # a catalog `$NAME` sees it as not configured
    assert s.unresolved == ("AZURE_OPENAI_API_KEY", "LLMPROXY_ADMIN_KEY")


def test_resolved_values_pass_through():
    s = Settings.from_env({"LLMPROXY_ADMIN_KEY": "llmp-admin-xyz"})
    assert s.admin_key == "llmp-admin-xyz" and s.unresolved == ()


def test_trace_sample_ratio_is_checked():
    import pytest
    assert Settings.from_env({"LLMPROXY_TRACE_SAMPLE_RATIO": "0.25"}).trace_sample_ratio == 0.25
    with pytest.raises(ValueError, match="LLMPROXY_TRACE_SAMPLE_RATIO"):
        Settings.from_env({"LLMPROXY_TRACE_SAMPLE_RATIO": "2"})
