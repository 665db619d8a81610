"""A consent proof bundle as a page a person can read (and print): what was agreed, to which words,
when and from where, and the result of checking the bundle offline."""

from __future__ import annotations

from typing import Any

import jinja2

from ...domain.proofs import ProofVerification, unwrap

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)

_PAGE = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Consent proof: {{ b.channel }}/{{ b.purpose }} of profile {{ b.profile_id }}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.25rem .5rem;border-bottom:1px solid #eee}
th{width:14rem;font-weight:600} code,.hash{font-family:ui-monospace,monospace;font-size:.85em;word-break:break-all}
blockquote{white-space:pre-wrap;border-left:4px solid #888;margin:0;padding:.5rem 1rem;background:#f6f6f6}
.ok{color:#0a6b2d} .bad{color:#b00020;font-weight:600} .warn{color:#8a5a00}
</style></head><body>
<h1>Consent proof — {{ b.channel }} / {{ b.purpose }}</h1>
<p class="{{ 'ok' if v.ok else 'bad' }}">{{ '✓ Verified offline' if v.ok else '✗ This bundle does not verify' }}:
{{ v.checks | selectattr('ok') | list | length }} of {{ v.checks | length }} checks hold.</p>
<table>
<tr><th>Account</th><td><code>{{ b.account_id }}</code></td></tr>
<tr><th>Profile</th><td><code>{{ b.profile_id }}</code></td></tr>
<tr><th>Address</th><td>{{ s.address or '(erased or not recorded)' }}</td></tr>
<tr><th>Status</th><td>{{ s.status }}</td></tr>
<tr><th>Consented at</th><td>{{ s.consent_timestamp or s.recorded_at }}</td></tr>
<tr><th>Method</th><td>{{ s.method or '' }}{% if s.method_detail %} — {{ s.method_detail }}{% endif %}</td></tr>
<tr><th>Source</th><td>{{ (s.request or s.consent).source or '(not recorded)' }}</td></tr>
<tr><th>Double opt-in</th><td>{{ 'yes' if s.double_optin else 'no' }}</td></tr>
{% if s.list_id %}<tr><th>List</th><td><code>{{ s.list_id }}</code></td></tr>{% endif %}
<tr><th>Bundle made</th><td>{{ b.generated_at }}</td></tr>
</table>

<h2>The words agreed to</h2>
{% if b.consent_text %}
<p>Version <strong>{{ b.consent_text.version }}</strong>
{%- if b.consent_text.language %} ({{ b.consent_text.language }}){% endif %},
SHA-256 <span class="hash">{{ b.consent_text.sha256 }}</span></p>
<blockquote>{{ b.consent_text.text }}</blockquote>
{% elif s.consent_text_version %}
<p class="warn">Version {{ s.consent_text_version }} was recorded, but its words were not stored.</p>
{% else %}<p class="warn">No consent text version was recorded with this consent.</p>{% endif %}

<h2>What happened</h2>
<table><tr><th>Step</th><th>When</th><th>Where from</th></tr>
{% for name, step in (('Request', s.request), ('Confirmation', s.confirmation),
                      ('Consent recorded', s.consent)) if step %}
<tr><td>{{ name }} <small>(seq {{ step.seq }}, {{ step.metric or step.type }})</small></td><td>{{ step.at }}</td>
<td>{{ step.source or '' }}<br>IP {{ step.ip or '(not recorded)' }}<br>
<small>{{ step.user_agent or '' }}</small></td></tr>
{% endfor %}</table>

<h2>Checks</h2>
<table>{% for c in v.checks %}<tr><th>{{ c.name }}</th>
<td class="{{ 'ok' if c.ok else 'bad' }}">{{ '✓' if c.ok else '✗' }} {{ c.detail }}</td></tr>{% endfor %}
{% for w in v.warnings %}<tr><th>note</th><td class="warn">{{ w }}</td></tr>{% endfor %}</table>

<h2>Signed checkpoint</h2>
<table>
<tr><th>Seq</th><td>{{ b.checkpoint.seq }}</td></tr>
<tr><th>Head hash</th><td class="hash">{{ b.checkpoint.head_hash }}</td></tr>
<tr><th>Signed at</th><td>{{ b.checkpoint.signed_at }}</td></tr>
<tr><th>Key id</th><td class="hash">{{ b.checkpoint.key_id }}</td></tr>
<tr><th>Public key</th><td class="hash">{{ b.checkpoint.public_key }}</td></tr>
</table>
<p>The hash chain runs over {{ b.chain.links | length }} events, seq {{ b.chain.from_seq }} to {{ b.chain.to_seq }}.
Check it yourself with <code>assent proof verify FILE</code>, or by the procedure in Assent's docs/proof.md.</p>
</body></html>
""")


def render(document: Any, verification: ProofVerification) -> str:
    bundle = unwrap(document)
    return _PAGE.render(b=bundle, s=bundle.get("summary") or {}, v=verification)
