"""Files (OpenAI Files API) and the object storage behind them and behind batches.

    storage.py       the storage contract and how a gateway picks its backend
    local_storage.py the embedded default: one file per object under the data folder
    blob_storage.py  Azure Blob Storage (managed identity in Azure, Azurite in tests)
    multipart.py     a streaming multipart/form-data reader (uploads never held in memory)
    upload.py        an upload's form, from the request stream to storage
    files.py         file records: ids, purposes, the public FileObject
"""
