-- Database grants for Clearcue on PostgreSQL.
--
-- Two roles: the OWNER (runs `manage.py migrate`, owns every table) and the APPLICATION role that web
-- processes and workers connect as. The application role may read and append to the ledger tables but
-- never UPDATE, DELETE or TRUNCATE them: even a compromised app server cannot rewrite history. The
-- pgtrigger triggers refuse UPDATE/DELETE for everyone as a second line; only the owner could drop them,
-- and verify_ledger (or any auditor holding a checkpoint) would then detect the change.
--
-- Run as the owner after each migration:
--   psql "$OWNER_DATABASE_URL" -v app_role=clearcue_app -f deploy/grants.sql

\set ON_ERROR_STOP on

GRANT USAGE ON SCHEMA public TO :"app_role";

-- Everything else: ordinary read/write.
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE %I TO %I', tablename, :'app_role')
FROM pg_tables
WHERE schemaname = 'public'
  AND tablename NOT IN ('licensing_ledgerentry', 'licensing_ledgernode', 'licensing_checkpoint',
                        'licensing_license', 'licensing_licensework', 'licensing_licenserevocation',
                        'licensing_optout', 'licensing_optoutwithdrawal',
                        'generation_trainingmanifest', 'generation_manifestentry', 'generation_generationmodel',
                        'generation_gatepolicy', 'generation_entitlement', 'generation_gatedecision',
                        'generation_joboutput', 'provenance_watermarkpayload', 'provenance_credential',
                        'provenance_traininggraph', 'provenance_licensegraph', 'provenance_stylelicense',
                        'provenance_attribution', 'provenance_attributionwork', 'provenance_impactreport')
\gexec
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO :"app_role";

-- Append-only ledger tables: SELECT and INSERT only.
REVOKE ALL ON TABLE licensing_ledgerentry, licensing_ledgernode, licensing_checkpoint FROM :"app_role";
GRANT SELECT, INSERT ON TABLE licensing_ledgerentry, licensing_ledgernode, licensing_checkpoint TO :"app_role";
-- Licenses and opt-outs are append-only too: revocation and withdrawal are new rows, never edits.
REVOKE ALL ON TABLE licensing_license, licensing_licensework, licensing_licenserevocation,
    licensing_optout, licensing_optoutwithdrawal FROM :"app_role";
GRANT SELECT, INSERT ON TABLE licensing_license, licensing_licensework, licensing_licenserevocation,
    licensing_optout, licensing_optoutwithdrawal TO :"app_role";
-- Training manifests and registered models are append-only: a retrained model is a new version.
REVOKE ALL ON TABLE generation_trainingmanifest, generation_manifestentry, generation_generationmodel
    FROM :"app_role";
GRANT SELECT, INSERT ON TABLE generation_trainingmanifest, generation_manifestentry, generation_generationmodel
    TO :"app_role";
-- Gate policies, client entitlements, gate decisions and sealed outputs: a change is a new row.
REVOKE ALL ON TABLE generation_gatepolicy, generation_entitlement, generation_gatedecision, generation_joboutput
    FROM :"app_role";
GRANT SELECT, INSERT ON TABLE generation_gatepolicy, generation_entitlement, generation_gatedecision,
    generation_joboutput TO :"app_role";
-- Watermark payloads and signed manifests: embedded in published files, so never edited.
REVOKE ALL ON TABLE provenance_watermarkpayload, provenance_credential FROM :"app_role";
GRANT SELECT, INSERT ON TABLE provenance_watermarkpayload, provenance_credential TO :"app_role";
-- License-chain graphs, attributions and impact reports: what a sealed manifest and a statement rest on.
REVOKE ALL ON TABLE provenance_traininggraph, provenance_licensegraph, provenance_stylelicense,
    provenance_attribution, provenance_attributionwork, provenance_impactreport FROM :"app_role";
GRANT SELECT, INSERT ON TABLE provenance_traininggraph, provenance_licensegraph, provenance_stylelicense,
    provenance_attribution, provenance_attributionwork, provenance_impactreport TO :"app_role";
-- The log head is the one mutable ledger row (its size and root are re-derivable from the entries).
GRANT SELECT, INSERT, UPDATE ON TABLE licensing_ledgerhead TO :"app_role";
