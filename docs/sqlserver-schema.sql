-- accessmgr: the SQL Server schema of its own tables, as `migrate` creates them.
-- Generated offline by `python manage.py sqlserver_schema` (Django 5.2.19, mssql-django 2.0.0); do not edit by hand.
-- Apply with `python manage.py migrate` (it also records the migrations), not by hand.

-- Migration requests_app.0001_initial
--
-- Create model UserAccessRequest
--
CREATE TABLE [UserAccessRequest] ([Id] int NOT NULL PRIMARY KEY IDENTITY (1, 1), [Request_Id] nvarchar(50) NOT NULL UNIQUE, [Requestor_Name] nvarchar(200) NOT NULL, [Requestor_Email] nvarchar(254) NOT NULL, [Resource_Name] nvarchar(200) NOT NULL, [Justification] nvarchar(1000) NOT NULL, [Status] nvarchar(20) NOT NULL, [Created_At] datetimeoffset NOT NULL, [Expires_On] datetimeoffset NOT NULL);
--
-- Create model RevokedAccess
--
CREATE TABLE [RevokedAccess] ([Id] int NOT NULL PRIMARY KEY IDENTITY (1, 1), [Revoked_Dt] datetimeoffset NOT NULL, [Revoked_By] nvarchar(200) NOT NULL, [Job_Id] nvarchar(36) NULL, [Request_Id] nvarchar(50) NOT NULL UNIQUE);
--
-- Create model ExpiryNotification
--
CREATE TABLE [ExpiryNotification] ([Id] int NOT NULL PRIMARY KEY IDENTITY (1, 1), [Notification_Type] nvarchar(30) NOT NULL, [Sent_At] datetimeoffset NOT NULL, [Sent_To] nvarchar(254) NOT NULL, [Job_Id] nvarchar(36) NULL, [Request_Id] nvarchar(50) NOT NULL, CONSTRAINT [expirynotification_request_type_uniq] UNIQUE ([Request_Id], [Notification_Type]));
ALTER TABLE [ExpiryNotification] ADD CONSTRAINT [ExpiryNotification_Request_Id_d6411509_fk_UserAccessRequest_Request_Id] FOREIGN KEY ([Request_Id]) REFERENCES [UserAccessRequest] ([Request_Id]);
ALTER TABLE [RevokedAccess] ADD CONSTRAINT [RevokedAccess_Request_Id_20b65588_fk_UserAccessRequest_Request_Id] FOREIGN KEY ([Request_Id]) REFERENCES [UserAccessRequest] ([Request_Id]);
CREATE INDEX [ExpiryNotification_Request_Id_d6411509] ON [ExpiryNotification] ([Request_Id]);
CREATE INDEX [uar_created_idx] ON [UserAccessRequest] ([Created_At] DESC, [Id] DESC);
CREATE INDEX [uar_email_idx] ON [UserAccessRequest] ([Requestor_Email]);
CREATE INDEX [uar_status_expires_idx] ON [UserAccessRequest] ([Status], [Expires_On]);

-- Migration requests_app.0002_status_created_index
--
-- Create index uar_status_created_idx on field(s) status, -created_at, -id of model useraccessrequest
--
CREATE INDEX [uar_status_created_idx] ON [UserAccessRequest] ([Status], [Created_At] DESC, [Id] DESC);

-- Migration requests_app.0003_revoke_write_indexes
--
-- Remove index uar_email_idx from useraccessrequest
--
DROP INDEX [uar_email_idx] ON [UserAccessRequest];
--
-- Drop the LIKE-pattern index of useraccessrequest.request_id (PostgreSQL)
--
-- (no-op)
--
-- Drop the LIKE-pattern index of revokedaccess.request (PostgreSQL)
--
-- (no-op)
--
-- Drop the LIKE-pattern index of expirynotification.request (PostgreSQL)
--
-- (no-op)

-- Migration requests_app.0004_search_trigram_index
--
-- Create the pg_trgm GIN index for the request search (PostgreSQL only)
--
-- (no-op)

-- Migration requests_app.0005_status_expires_id_index
--
-- Remove index uar_status_expires_idx from useraccessrequest
--
DROP INDEX [uar_status_expires_idx] ON [UserAccessRequest];
--
-- Create index uar_status_expires_idx on field(s) status, expires_on, id of model useraccessrequest
--
CREATE INDEX [uar_status_expires_idx] ON [UserAccessRequest] ([Status], [Expires_On], [Id]);

-- Migration requests_app.0006_access_lifecycle
--
-- Add field expires_on to expirynotification
--
ALTER TABLE [ExpiryNotification] ADD [Expires_On] datetimeoffset NULL;
--
-- Raw Python operation
--
-- THIS OPERATION CANNOT BE WRITTEN AS SQL
--
-- Remove constraint expirynotification_request_type_uniq from model expirynotification
--
ALTER TABLE [ExpiryNotification] DROP CONSTRAINT [expirynotification_request_type_uniq];
--
-- Create constraint expirynotification_request_type_expiry_uniq on model expirynotification
--
ALTER TABLE [ExpiryNotification] ADD CONSTRAINT [expirynotification_request_type_expiry_uniq] UNIQUE ([Request_Id], [Notification_Type], [Expires_On]);
--
-- Create model AccessEvent
--
CREATE TABLE [AccessEvent] ([Id] bigint NOT NULL PRIMARY KEY IDENTITY (1, 1), [Event_Type] nvarchar(30) NOT NULL, [Occurred_At] datetimeoffset NOT NULL, [Actor] nvarchar(200) NOT NULL, [Job_Id] nvarchar(36) NULL, [Reason] nvarchar(500) NOT NULL, [Old_Expires_On] datetimeoffset NULL, [New_Expires_On] datetimeoffset NULL, [Detail] nvarchar(300) NOT NULL, [Request_Id] nvarchar(50) NOT NULL);
ALTER TABLE [AccessEvent] ADD CONSTRAINT [AccessEvent_Request_Id_0615d729_fk_UserAccessRequest_Request_Id] FOREIGN KEY ([Request_Id]) REFERENCES [UserAccessRequest] ([Request_Id]);
CREATE INDEX [AccessEvent_Request_Id_0615d729] ON [AccessEvent] ([Request_Id]);
CREATE INDEX [accessevent_occurred_idx] ON [AccessEvent] ([Occurred_At], [Id]);

-- Migration requests_app.0007_useraccessrequest_requester
--
-- Change Meta options on useraccessrequest
--
-- (no-op)
--
-- Add field requester to useraccessrequest
--
ALTER TABLE [UserAccessRequest] ADD [Requester_User_Id] int NULL;
ALTER TABLE [UserAccessRequest] ADD CONSTRAINT [UserAccessRequest_Requester_User_Id_77b6912d_fk_auth_user_id] FOREIGN KEY ([Requester_User_Id]) REFERENCES [auth_user] ([id]);
CREATE INDEX [UserAccessRequest_Requester_User_Id_77b6912d] ON [UserAccessRequest] ([Requester_User_Id]);

-- Migration requests_app.0008_expirynotification_message_id
--
-- Add field message_id to expirynotification
--
ALTER TABLE [ExpiryNotification] ADD [Message_Id] nvarchar(255) NULL;

-- Migration requests_app.0009_requeststatuscount
--
-- Create model RequestStatusCount
--
CREATE TABLE [RequestStatusCount] ([Status] nvarchar(20) NOT NULL PRIMARY KEY, [N] bigint NOT NULL);
--
-- Create the triggers that keep RequestStatusCount, and fill it
--
GO
CREATE TRIGGER [uar_status_count] ON [UserAccessRequest] AFTER INSERT, UPDATE, DELETE AS
BEGIN
SET NOCOUNT ON;
MERGE [RequestStatusCount] WITH (HOLDLOCK) AS c USING (SELECT x.[Status], SUM(x.d) FROM (SELECT [Status], 1 AS d FROM inserted UNION ALL SELECT [Status], -1 AS d FROM deleted) AS x GROUP BY x.[Status] HAVING SUM(x.d) <> 0) AS s ([Status], d) ON c.[Status] = s.[Status] WHEN MATCHED THEN UPDATE SET [N] = c.[N] + s.d WHEN NOT MATCHED THEN INSERT ([Status], [N]) VALUES (s.[Status], s.d);
END;
GO
INSERT INTO [RequestStatusCount] ([Status], [N]) SELECT s.[Status], COUNT(r.[Id]) FROM (SELECT 'Active' AS [Status] UNION SELECT 'Revoked' AS [Status] UNION SELECT [Status] FROM [UserAccessRequest]) AS s LEFT JOIN [UserAccessRequest] r ON r.[Status] = s.[Status] GROUP BY s.[Status];

-- Migration requests_app.0010_accessevent_no_pattern_index
--
-- Drop the LIKE-pattern index of accessevent.request (PostgreSQL)
--
-- (no-op)

-- Migration requests_app.0011_search_text_table
--
-- Move the request search's text and trigram index to UserAccessRequestSearch (PostgreSQL only)
--
-- (no-op)

-- Migration requests_app.0012_accessevent_no_foreign_key
--
-- Drop the database foreign key of accessevent.request
--
ALTER TABLE [AccessEvent] DROP CONSTRAINT [AccessEvent_Request_Id_0615d729_fk_UserAccessRequest_Request_Id];

-- Migration jobs.0001_initial
--
-- Create model NotificationJobRun
--
CREATE TABLE [NotificationJobRun] ([Id] int NOT NULL PRIMARY KEY IDENTITY (1, 1), [Job_Id] nvarchar(36) NOT NULL UNIQUE, [Status] nvarchar(20) NOT NULL, [Started_At] datetimeoffset NOT NULL, [Started_By] nvarchar(200) NOT NULL, [Triggered_By] nvarchar(150) NOT NULL, [Heartbeat_At] datetimeoffset NULL, [Completed_At] datetimeoffset NULL, [Total_Count] int NULL, [Processed_Count] int NULL, [Error_Message] nvarchar(max) NULL, [Success_Count] int NULL, [Failed_Count] int NULL);
--
-- Create model RevokeExpiredJobRun
--
CREATE TABLE [RevokeExpiredJobRun] ([Id] int NOT NULL PRIMARY KEY IDENTITY (1, 1), [Job_Id] nvarchar(36) NOT NULL UNIQUE, [Status] nvarchar(20) NOT NULL, [Started_At] datetimeoffset NOT NULL, [Started_By] nvarchar(200) NOT NULL, [Triggered_By] nvarchar(150) NOT NULL, [Heartbeat_At] datetimeoffset NULL, [Completed_At] datetimeoffset NULL, [Total_Count] int NULL, [Processed_Count] int NULL, [Error_Message] nvarchar(max) NULL, [Revoked_Count] int NULL);
CREATE INDEX [njr_started_idx] ON [NotificationJobRun] ([Started_At] DESC);
CREATE INDEX [rejr_started_idx] ON [RevokeExpiredJobRun] ([Started_At] DESC);
CREATE UNIQUE INDEX [notificationjobrun_one_inprogress] ON [NotificationJobRun] ([Status]) WHERE [Status] = 'InProgress';
CREATE UNIQUE INDEX [revokeexpiredjobrun_one_inprogress] ON [RevokeExpiredJobRun] ([Status]) WHERE [Status] = 'InProgress';

-- Migration jobs.0002_run_status_refused
--
-- Alter field status on notificationjobrun
--
-- (no-op)
--
-- Alter field status on revokeexpiredjobrun
--
-- (no-op)

-- Migration jobs.0003_notification_failure
--
-- Create model NotificationFailure
--
CREATE TABLE [NotificationFailure] ([Id] bigint NOT NULL PRIMARY KEY IDENTITY (1, 1), [Job_Id] nvarchar(36) NOT NULL, [Notification_Type] nvarchar(30) NOT NULL, [Sent_To] nvarchar(254) NOT NULL, [Error_Message] nvarchar(max) NOT NULL, [Failed_At] datetimeoffset NOT NULL, [Request_Id] nvarchar(50) NOT NULL);
ALTER TABLE [NotificationFailure] ADD CONSTRAINT [NotificationFailure_Request_Id_e0821799_fk_UserAccessRequest_Request_Id] FOREIGN KEY ([Request_Id]) REFERENCES [UserAccessRequest] ([Request_Id]);
CREATE INDEX [NotificationFailure_Request_Id_e0821799] ON [NotificationFailure] ([Request_Id]);
CREATE INDEX [nf_job_idx] ON [NotificationFailure] ([Job_Id]);

-- Migration jobs.0004_scheduled_tick_and_pruned_run_totals
--
-- Create model PrunedRunTotals
--
CREATE TABLE [PrunedRunTotals] ([Id] bigint NOT NULL PRIMARY KEY IDENTITY (1, 1), [Job] nvarchar(20) NOT NULL, [Metric] nvarchar(60) NOT NULL, [Value] double precision NOT NULL, CONSTRAINT [prunedruntotals_one_per_metric] UNIQUE ([Job], [Metric]));
--
-- Create model ScheduledTick
--
CREATE TABLE [ScheduledTick] ([Id] bigint NOT NULL PRIMARY KEY IDENTITY (1, 1), [Job] nvarchar(20) NOT NULL, [Tick_At] datetimeoffset NOT NULL, [Claimed_By] nvarchar(200) NOT NULL, [Claimed_At] datetimeoffset NOT NULL, [Finished_At] datetimeoffset NULL, [Outcome] nvarchar(20) NOT NULL, [Error_Message] nvarchar(max) NULL, CONSTRAINT [scheduledtick_one_per_tick] UNIQUE ([Job], [Tick_At]));

-- Migration jobs.0005_status_in_progress_label
--
-- Alter field status on notificationjobrun
--
-- (no-op)
--
-- Alter field status on revokeexpiredjobrun
--
-- (no-op)

-- Migration jobs.0006_deliver_events_job_run
--
-- Create model DeliverEventsJobRun
--
CREATE TABLE [DeliverEventsJobRun] ([Id] int NOT NULL PRIMARY KEY IDENTITY (1, 1), [Job_Id] nvarchar(36) NOT NULL UNIQUE, [Status] nvarchar(20) NOT NULL, [Started_At] datetimeoffset NOT NULL, [Started_By] nvarchar(200) NOT NULL, [Triggered_By] nvarchar(150) NOT NULL, [Heartbeat_At] datetimeoffset NULL, [Completed_At] datetimeoffset NULL, [Total_Count] int NULL, [Processed_Count] int NULL, [Error_Message] nvarchar(max) NULL, [Success_Count] int NULL, [Failed_Count] int NULL);
CREATE INDEX [dejr_started_idx] ON [DeliverEventsJobRun] ([Started_At] DESC);
CREATE UNIQUE INDEX [delivereventsjobrun_one_inprogress] ON [DeliverEventsJobRun] ([Status]) WHERE [Status] = 'InProgress';

-- Migration jobs.0007_run_holder_job_id
--
-- Add field holder_job_id to delivereventsjobrun
--
ALTER TABLE [DeliverEventsJobRun] ADD [Holder_Job_Id] nvarchar(36) NULL;
--
-- Add field holder_job_id to notificationjobrun
--
ALTER TABLE [NotificationJobRun] ADD [Holder_Job_Id] nvarchar(36) NULL;
--
-- Add field holder_job_id to revokeexpiredjobrun
--
ALTER TABLE [RevokeExpiredJobRun] ADD [Holder_Job_Id] nvarchar(36) NULL;
--
-- Raw Python operation
--
-- THIS OPERATION CANNOT BE WRITTEN AS SQL

-- Migration jobs.0008_notification_claim
--
-- Create model NotificationClaim
--
CREATE TABLE [NotificationClaim] ([Id] bigint NOT NULL PRIMARY KEY IDENTITY (1, 1), [Notification_Type] nvarchar(30) NOT NULL, [Claimed_At] datetimeoffset NOT NULL, [Sent_To] nvarchar(254) NOT NULL, [Job_Id] nvarchar(36) NOT NULL, [Expires_On] datetimeoffset NOT NULL, [Message_Id] nvarchar(255) NOT NULL, [Request_Id] nvarchar(50) NOT NULL, CONSTRAINT [notificationclaim_one_per_notice] UNIQUE ([Request_Id], [Notification_Type], [Expires_On]));
ALTER TABLE [NotificationClaim] ADD CONSTRAINT [NotificationClaim_Request_Id_34698e25_fk_UserAccessRequest_Request_Id] FOREIGN KEY ([Request_Id]) REFERENCES [UserAccessRequest] ([Request_Id]);
CREATE INDEX [NotificationClaim_Request_Id_34698e25] ON [NotificationClaim] ([Request_Id]);
CREATE INDEX [nc_job_idx] ON [NotificationClaim] ([Job_Id]);

-- Migration jobs.0009_notificationclaim_no_pattern_index
--
-- Drop the LIKE-pattern index of notificationclaim.request (PostgreSQL)
--
-- (no-op)

-- Migration webhooks.0001_webhook_outbox
--
-- Create model WebhookEndpoint
--
CREATE TABLE [WebhookEndpoint] ([Id] int NOT NULL PRIMARY KEY IDENTITY (1, 1), [Url] nvarchar(2000) NOT NULL, [Event_Types] nvarchar(500) NOT NULL, [Secret] nvarchar(200) NOT NULL, [Active] bit NOT NULL, [Created_At] datetimeoffset NOT NULL);
--
-- Create model WebhookEvent
--
CREATE TABLE [WebhookEvent] ([Id] bigint NOT NULL PRIMARY KEY IDENTITY (1, 1), [Type] nvarchar(64) NOT NULL, [Request_Id] nvarchar(50) NULL, [Job_Id] nvarchar(36) NULL, [Data] nvarchar(max) NULL CONSTRAINT WebhookEvent_Data_b795cc42_check CHECK ((ISJSON ("Data") = 1)), [Created_At] datetimeoffset NOT NULL, [Dispatched_At] datetimeoffset NULL);
--
-- Create model WebhookDelivery
--
CREATE TABLE [WebhookDelivery] ([Id] bigint NOT NULL PRIMARY KEY IDENTITY (1, 1), [Request_Id] nvarchar(50) NULL, [Status] nvarchar(20) NOT NULL, [Attempts] int NOT NULL, [Next_Attempt_At] datetimeoffset NOT NULL, [Last_Status_Code] int NULL, [Last_Error] nvarchar(1000) NOT NULL, [Delivered_At] datetimeoffset NULL, [Endpoint_Id] int NOT NULL, [Event_Id] bigint NOT NULL);
--
-- Create model WebhookAttempt
--
CREATE TABLE [WebhookAttempt] ([Id] bigint NOT NULL PRIMARY KEY IDENTITY (1, 1), [Attempted_At] datetimeoffset NOT NULL, [Status_Code] int NULL, [Duration_Ms] int NOT NULL, [Response_Body] nvarchar(1000) NOT NULL, [Error] nvarchar(1000) NOT NULL, [Job_Id] nvarchar(36) NOT NULL, [Delivery_Id] bigint NOT NULL);
--
-- Create index whd_due_idx on field(s) status, next_attempt_at of model webhookdelivery
--
CREATE INDEX [whd_due_idx] ON [WebhookDelivery] ([Status], [Next_Attempt_At]);
--
-- Create index whd_order_idx on field(s) endpoint, request_id, status of model webhookdelivery
--
CREATE INDEX [whd_order_idx] ON [WebhookDelivery] ([Endpoint_Id], [Request_Id], [Status]);
--
-- Create constraint webhookdelivery_event_endpoint_uniq on model webhookdelivery
--
ALTER TABLE [WebhookDelivery] ADD CONSTRAINT [webhookdelivery_event_endpoint_uniq] UNIQUE ([Event_Id], [Endpoint_Id]);
ALTER TABLE [WebhookAttempt] ADD CONSTRAINT [WebhookAttempt_Delivery_Id_67d33b95_fk_WebhookDelivery_Id] FOREIGN KEY ([Delivery_Id]) REFERENCES [WebhookDelivery] ([Id]);
ALTER TABLE [WebhookDelivery] ADD CONSTRAINT [WebhookDelivery_Endpoint_Id_4c7a9d30_fk_WebhookEndpoint_Id] FOREIGN KEY ([Endpoint_Id]) REFERENCES [WebhookEndpoint] ([Id]);
ALTER TABLE [WebhookDelivery] ADD CONSTRAINT [WebhookDelivery_Event_Id_998536bc_fk_WebhookEvent_Id] FOREIGN KEY ([Event_Id]) REFERENCES [WebhookEvent] ([Id]);
CREATE INDEX [WebhookAttempt_Delivery_Id_67d33b95] ON [WebhookAttempt] ([Delivery_Id]);
CREATE INDEX [WebhookDelivery_Endpoint_Id_4c7a9d30] ON [WebhookDelivery] ([Endpoint_Id]);
CREATE INDEX [WebhookDelivery_Event_Id_998536bc] ON [WebhookDelivery] ([Event_Id]);
CREATE INDEX [wha_delivery_idx] ON [WebhookAttempt] ([Delivery_Id], [Id] DESC);
CREATE INDEX [whe_undispatched_idx] ON [WebhookEvent] ([Id]) WHERE [Dispatched_At] IS NULL;
