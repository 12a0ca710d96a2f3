"""FILE_UPLOAD_HANDLERS: no view takes files, so a multipart body's files are skipped unread
into memory or disk, and a multipart body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class RefuseFilesUploadHandler(FileUploadHandler):
    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")

    def new_file(self, *args, **kwargs):
        raise SkipFile

    def receive_data_chunk(self, raw_data, start):  # never reached: every file is skipped
        return None

    def file_complete(self, file_size):
        return None
