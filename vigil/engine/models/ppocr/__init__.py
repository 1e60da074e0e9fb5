"""PP-OCR (text detection, orientation, recognition) with rapidocr-onnxruntime's arithmetic."""
