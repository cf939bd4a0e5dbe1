-- Notifications to people: who hears about what (recipients and their preferences), and the two
-- sender queues, `whatsapp_queue` (the original system's table, now with real statuses from
-- WhatsApp) and `slack_queue`. A row is one message to one recipient; senders claim rows with a
-- lease, so a message is never sent by two workers at once.

-- A recipient belongs to a merchant, or to the platform's operators (merchant_id NULL).
-- `destination` says what `address` is: an E.164 phone number (WhatsApp), a Slack channel id
-- (posted to with the platform's bot token), or nothing, for a Slack incoming webhook whose URL is
-- a secret and is sealed like gateway credentials (`webhook_hint` is its masked form for display).
CREATE TABLE notification_recipients (
    id                 uuid PRIMARY KEY,
    merchant_id        uuid REFERENCES merchants (id),
    channel            text        NOT NULL CHECK (channel IN ('whatsapp', 'slack')),
    destination        text        NOT NULL CHECK (destination IN ('phone', 'slack_webhook', 'slack_channel')),
    label              text        NOT NULL DEFAULT '' CHECK (length(label) <= 100),
    address            text,
    webhook_key_id     text,
    webhook_nonce      bytea,
    webhook_ciphertext bytea,
    webhook_hint       text CHECK (length(webhook_hint) <= 200),
    kinds              text[]      NOT NULL DEFAULT '{}'
        CHECK (cardinality(kinds) <= 50 AND array_position(kinds, NULL) IS NULL),
    min_severity       text        NOT NULL DEFAULT 'info' CHECK (min_severity IN ('info', 'warning', 'critical')),
    enabled            boolean     NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notification_recipients_channel_destination
        CHECK ((channel = 'whatsapp') = (destination = 'phone')),
    CONSTRAINT notification_recipients_phone
        CHECK (destination <> 'phone' OR address ~ '^\+[1-9][0-9]{6,14}$'),
    CONSTRAINT notification_recipients_slack_channel
        CHECK (destination <> 'slack_channel' OR address ~ '^[CGD][A-Z0-9]{6,20}$'),
    CONSTRAINT notification_recipients_webhook_sealed
        CHECK ((destination = 'slack_webhook') = (webhook_ciphertext IS NOT NULL)
               AND (webhook_ciphertext IS NULL) = (webhook_key_id IS NULL)
               AND (webhook_ciphertext IS NULL) = (webhook_nonce IS NULL)
               AND (webhook_ciphertext IS NULL) = (webhook_hint IS NULL)
               AND (destination = 'slack_webhook') = (address IS NULL))
);
-- One recipient per phone number or channel per owner (the platform's NULL owner included).
CREATE UNIQUE INDEX notification_recipients_address_key ON notification_recipients
    (coalesce(merchant_id, '00000000-0000-0000-0000-000000000000'::uuid), destination, address)
    WHERE address IS NOT NULL;
CREATE INDEX notification_recipients_merchant_idx ON notification_recipients (merchant_id, id);

-- One WhatsApp template message to one phone number. `status` follows WhatsApp: queued (ours),
-- sent (accepted, a wamid returned), delivered, read, failed; it never moves backwards.
CREATE TABLE whatsapp_queue (
    id                uuid PRIMARY KEY,
    recipient_id      uuid REFERENCES notification_recipients (id) ON DELETE SET NULL,
    merchant_id       uuid REFERENCES merchants (id),
    notice_kind       text        NOT NULL CHECK (length(notice_kind) BETWEEN 1 AND 100),
    severity          text        NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    "to"              text        NOT NULL CHECK ("to" ~ '^\+[1-9][0-9]{6,14}$'),
    template_name     text        NOT NULL CHECK (template_name ~ '^[a-z0-9_]+$' AND length(template_name) <= 512),
    template_language text        NOT NULL CHECK (template_language ~ '^[a-z]{2,3}(_[A-Za-z]{2,4})?$'),
    parameters        jsonb       NOT NULL CHECK (jsonb_typeof(parameters) = 'array'),
    status            text        NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    wamid             text CHECK (length(wamid) BETWEEN 1 AND 256),
    attempts          integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at   timestamptz NOT NULL,
    last_attempt_at   timestamptz,
    lease_until       timestamptz,
    last_error        text CHECK (length(last_error) <= 2000),
    sent_at           timestamptz,
    delivered_at      timestamptz,
    read_at           timestamptz,
    failed_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT whatsapp_queue_wamid_when CHECK (status IN ('queued', 'failed') OR wamid IS NOT NULL),
    CONSTRAINT whatsapp_queue_failed_when CHECK ((status = 'failed') = (failed_at IS NOT NULL))
);
CREATE UNIQUE INDEX whatsapp_queue_wamid_key ON whatsapp_queue (wamid) WHERE wamid IS NOT NULL;
CREATE INDEX whatsapp_queue_due_idx ON whatsapp_queue (next_attempt_at) WHERE status = 'queued';
CREATE INDEX whatsapp_queue_to_idx ON whatsapp_queue ("to", last_attempt_at);

-- One Slack message to one recipient (its webhook or channel is read from the recipient when
-- sending, so a sealed URL is never copied).
CREATE TABLE slack_queue (
    id              uuid PRIMARY KEY,
    recipient_id    uuid REFERENCES notification_recipients (id) ON DELETE SET NULL,
    merchant_id     uuid REFERENCES merchants (id),
    notice_kind     text        NOT NULL CHECK (length(notice_kind) BETWEEN 1 AND 100),
    severity        text        NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    text            text        NOT NULL CHECK (length(text) BETWEEN 1 AND 40000),
    status          text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    message_ts      text CHECK (length(message_ts) <= 64),
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    last_attempt_at timestamptz,
    lease_until     timestamptz,
    last_error      text CHECK (length(last_error) <= 2000),
    sent_at         timestamptz,
    failed_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT slack_queue_sent_when CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CONSTRAINT slack_queue_failed_when CHECK ((status = 'failed') = (failed_at IS NOT NULL))
);
CREATE INDEX slack_queue_due_idx ON slack_queue (next_attempt_at) WHERE status = 'queued';
CREATE INDEX slack_queue_recipient_idx ON slack_queue (recipient_id, last_attempt_at);

-- Row security: a merchant manages its own recipients and may queue messages to them (a notice
-- raised in its own transaction); the platform sees everything. The public scope sees nothing
-- (the WhatsApp status webhook applies statuses in the system scope after its signature checks).
ALTER TABLE notification_recipients ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_recipients FORCE ROW LEVEL SECURITY;
CREATE POLICY notification_recipients_access ON notification_recipients FOR ALL
    USING (app_is_platform() OR app_is_merchant(merchant_id))
    WITH CHECK (app_is_platform() OR app_is_merchant(merchant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON notification_recipients TO lsp_app;

ALTER TABLE whatsapp_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE whatsapp_queue FORCE ROW LEVEL SECURITY;
CREATE POLICY whatsapp_queue_access ON whatsapp_queue FOR ALL
    USING (app_is_platform() OR app_is_merchant(merchant_id))
    WITH CHECK (app_is_platform() OR app_is_merchant(merchant_id));
GRANT SELECT, INSERT, UPDATE ON whatsapp_queue TO lsp_app;

ALTER TABLE slack_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE slack_queue FORCE ROW LEVEL SECURITY;
CREATE POLICY slack_queue_access ON slack_queue FOR ALL
    USING (app_is_platform() OR app_is_merchant(merchant_id))
    WITH CHECK (app_is_platform() OR app_is_merchant(merchant_id));
GRANT SELECT, INSERT, UPDATE ON slack_queue TO lsp_app;
