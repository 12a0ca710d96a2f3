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
-- Drop the varchar_pattern_ops (…_like) indexes on Request_Id (PostgreSQL only)
--
-- (no-op)

-- Migration requests_app.0004_expirynotification_message_id
--
-- Add field message_id to expirynotification
--
ALTER TABLE [ExpiryNotification] ADD [Message_Id] nvarchar(255) NULL;

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
