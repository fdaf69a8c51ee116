#!/usr/bin/env python3
"""Generate sample-data/reference/procedures.csv (deterministic, no network).

Two kinds of rows:

* REAL: procedure codes from the national procedure database (CSDL quốc gia
  về TTHC / dichvucong.gov.vn) whose code-to-procedure pairing we could
  corroborate from public material (see ../reference/PROVENANCE.md).
  Names are the official names, lightly shortened and with commas removed.
  `real=true`.
* ILLUSTRATIVE: realistic procedure names written per sector, with codes
  drawn from the ranges 1.9xxxxx / 2.9xxxxx, which are not used by any
  national code we know of, so they never clash with a real procedure.
  `real=false`.

handling_days / fee / full_online are plausible values for a dashboard
sample, not legal statements, even for real rows.

Usage: python3 sample-data/tools/make_procedures.py  (writes the CSV)
"""
import csv
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "reference", "procedures.csv")

C, P, M = "commune", "province", "ministry"
T, F = True, False

# --------------------------------------------------------------------------
# Real codes: (code, name_vi, level, handling_days, fee, full_online, field)
# --------------------------------------------------------------------------
REAL = [
    # Hộ tịch (civil status), UBND cấp xã
    ("1.001193", "Đăng ký khai sinh", C, 1, F, T, "civil_status"),
    ("1.000894", "Đăng ký kết hôn", C, 1, F, F, "civil_status"),
    ("1.000656", "Đăng ký khai tử", C, 1, F, T, "civil_status"),
    ("1.004884", "Đăng ký lại khai sinh", C, 5, T, F, "civil_status"),
    ("1.005461", "Đăng ký lại khai tử", C, 5, T, F, "civil_status"),
    ("1.004746", "Đăng ký lại kết hôn", C, 5, T, F, "civil_status"),
    ("1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân", C, 3, T, T, "civil_status"),
    ("1.003583", "Đăng ký khai sinh lưu động", C, 5, F, F, "civil_status"),
    ("1.000593", "Đăng ký kết hôn lưu động", C, 5, F, F, "civil_status"),
    ("1.000419", "Đăng ký khai tử lưu động", C, 5, F, F, "civil_status"),
    ("1.000689", "Đăng ký khai sinh kết hợp đăng ký nhận cha mẹ con", C, 3, T, F, "civil_status"),
    ("1.001022", "Đăng ký nhận cha mẹ con", C, 3, T, F, "civil_status"),
    ("1.004837", "Đăng ký giám hộ", C, 3, F, F, "civil_status"),
    ("1.004845", "Đăng ký chấm dứt giám hộ", C, 2, F, F, "civil_status"),
    ("3.000323", "Đăng ký giám sát việc giám hộ", C, 3, F, F, "civil_status"),
    ("1.004772", "Đăng ký khai sinh cho người đã có hồ sơ giấy tờ cá nhân", C, 3, T, F, "civil_status"),
    ("2.000528", "Đăng ký khai sinh có yếu tố nước ngoài", C, 3, T, F, "civil_status"),
    ("2.000806", "Đăng ký kết hôn có yếu tố nước ngoài", C, 10, T, F, "civil_status"),
    ("1.001669", "Đăng ký giám hộ có yếu tố nước ngoài", C, 5, T, F, "civil_status"),
    ("2.000635", "Cấp bản sao trích lục hộ tịch", C, 1, T, T, "civil_status"),
    ("2.001263", "Đăng ký việc nuôi con nuôi trong nước", C, 20, T, F, "civil_status"),
    # Chứng thực, hòa giải cơ sở (justice), cấp xã
    ("2.000815", "Chứng thực bản sao từ bản chính giấy tờ văn bản do cơ quan có thẩm quyền của Việt Nam cấp", C, 1, T, T, "justice"),
    ("2.000884", "Chứng thực chữ ký trong các giấy tờ văn bản", C, 1, T, F, "justice"),
    ("2.000992", "Chứng thực chữ ký người dịch mà người dịch là cộng tác viên dịch thuật", C, 1, T, F, "justice"),
    ("2.001008", "Chứng thực chữ ký người dịch mà người dịch không phải là cộng tác viên dịch thuật", C, 1, T, F, "justice"),
    ("2.000942", "Cấp bản sao có chứng thực từ bản chính hợp đồng giao dịch đã được chứng thực", C, 2, T, F, "justice"),
    ("1.002211", "Công nhận hòa giải viên", C, 5, F, F, "justice"),
    ("2.000930", "Thôi làm hòa giải viên", C, 5, F, F, "justice"),
    ("2.000950", "Công nhận tổ trưởng tổ hòa giải", C, 5, F, F, "justice"),
    # Cư trú (residence), Công an cấp xã
    ("1.004222", "Đăng ký thường trú", C, 7, T, T, "residence"),
    ("1.004194", "Đăng ký tạm trú", C, 3, T, T, "residence"),
    ("1.002755", "Gia hạn tạm trú", C, 3, T, T, "residence"),
    ("1.003677", "Khai báo tạm vắng", C, 1, F, T, "residence"),
    ("1.010028", "Xóa đăng ký tạm trú", C, 1, F, T, "residence"),
    ("1.003197", "Xóa đăng ký thường trú", C, 1, F, T, "residence"),
    ("1.010038", "Tách hộ", C, 3, T, T, "residence"),
    ("2.001159", "Thông báo lưu trú", C, 1, F, T, "residence"),
    # Hộ kinh doanh (business), cấp xã
    ("1.001612", "Đăng ký thành lập hộ kinh doanh", C, 3, T, T, "business"),
    ("2.000720", "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh", C, 3, T, T, "business"),
    ("1.001570", "Tạm ngừng kinh doanh của hộ kinh doanh", C, 3, F, T, "business"),
    ("1.001266", "Chấm dứt hoạt động hộ kinh doanh", C, 3, F, T, "business"),
    ("2.000575", "Cấp lại Giấy chứng nhận đăng ký hộ kinh doanh", C, 3, T, T, "business"),
    # Xây dựng (construction), cấp xã
    ("1.013226", "Điều chỉnh giấy phép xây dựng đối với công trình cấp III cấp IV và nhà ở riêng lẻ", C, 15, T, T, "construction"),
    ("1.013227", "Gia hạn giấy phép xây dựng đối với công trình cấp III cấp IV và nhà ở riêng lẻ", C, 5, T, T, "construction"),
    ("1.013228", "Cấp lại giấy phép xây dựng đối với công trình cấp III cấp IV và nhà ở riêng lẻ", C, 5, T, T, "construction"),
    # Bảo trợ xã hội, người có công, giảm nghèo (social_welfare)
    ("1.001699", "Xác định mức độ khuyết tật và cấp Giấy xác nhận khuyết tật", C, 20, F, F, "social_welfare"),
    ("1.001653", "Đổi hoặc cấp lại Giấy xác nhận khuyết tật", C, 5, F, T, "social_welfare"),
    ("1.001731", "Hỗ trợ chi phí mai táng cho đối tượng bảo trợ xã hội", C, 3, F, F, "social_welfare"),
    ("1.014028", "Hỗ trợ chi phí mai táng đối với người đang hưởng trợ cấp hưu trí xã hội", C, 3, F, F, "social_welfare"),
    ("1.011607", "Công nhận hộ nghèo hộ cận nghèo thường xuyên hằng năm", C, 15, F, F, "social_welfare"),
    ("2.002307", "Giải quyết chế độ mai táng phí đối với cựu chiến binh", C, 10, F, F, "social_welfare"),
    ("2.002308", "Giải quyết chế độ mai táng phí đối với thanh niên xung phong thời kỳ kháng chiến chống Pháp", C, 10, F, F, "social_welfare"),
    ("1.010803", "Giải quyết chế độ trợ cấp thờ cúng liệt sĩ", P, 12, F, F, "social_welfare"),
    ("1.010833", "Cấp giấy xác nhận thân nhân của người có công", P, 5, F, T, "social_welfare"),
    # Giáo dục (education), cấp xã
    ("3.000182", "Tuyển sinh trung học cơ sở", C, 15, F, T, "education"),
    ("1.001639", "Giải thể trường tiểu học", C, 20, F, F, "education"),
    ("2.002894", "Cho phép trường mầm non hoạt động giáo dục", C, 20, F, F, "education"),
    # Đất đai (land), Văn phòng đăng ký đất đai / Sở Nông nghiệp và Môi trường
    ("1.012753", "Đăng ký đất đai tài sản gắn liền với đất và cấp Giấy chứng nhận lần đầu đối với tổ chức đang sử dụng đất", P, 20, T, F, "land"),
    ("1.012756", "Đăng ký đất đai lần đầu đối với trường hợp được Nhà nước giao đất để quản lý", P, 20, F, F, "land"),
    ("1.012766", "Xóa đăng ký thuê và cho thuê lại quyền sử dụng đất trong dự án xây dựng kinh doanh kết cấu hạ tầng", P, 3, F, T, "land"),
    ("1.012781", "Đăng ký và cấp Giấy chứng nhận đối với thửa đất có diện tích tăng thêm do thay đổi ranh giới", P, 20, T, F, "land"),
    ("1.012782", "Cấp Giấy chứng nhận cho phần diện tích còn lại của thửa đất có vườn ao đã được cấp một phần trước ngày 01/7/2004", P, 20, T, F, "land"),
    ("1.012783", "Cấp đổi Giấy chứng nhận quyền sử dụng đất quyền sở hữu tài sản gắn liền với đất", P, 7, T, T, "land"),
    ("1.012784", "Tách thửa hoặc hợp thửa đất", P, 15, T, F, "land"),
    ("1.012785", "Đăng ký và cấp Giấy chứng nhận đối với trường hợp đã chuyển quyền sử dụng đất trước ngày 01/8/2024", P, 10, T, F, "land"),
    ("1.012786", "Cấp lại Giấy chứng nhận do bị mất", P, 10, T, T, "land"),
    ("1.012787", "Đăng ký và cấp Giấy chứng nhận cho người nhận chuyển nhượng trong dự án bất động sản", P, 15, T, T, "land"),
    ("1.012789", "Cung cấp thông tin dữ liệu đất đai", P, 2, T, T, "land"),
    ("1.012790", "Đính chính Giấy chứng nhận đã cấp", P, 10, F, T, "land"),
    ("1.012791", "Thu hồi và cấp lại Giấy chứng nhận đã cấp không đúng quy định", P, 20, T, F, "land"),
    ("1.012796", "Đính chính Giấy chứng nhận đã cấp lần đầu có sai sót", P, 10, F, T, "land"),
    ("1.012805", "Giải quyết tranh chấp đất đai thuộc thẩm quyền của Chủ tịch Ủy ban nhân dân cấp tỉnh", P, 30, F, F, "land"),
    ("1.012812", "Hòa giải tranh chấp đất đai", C, 30, F, F, "land"),
    ("1.012817", "Xác định lại diện tích đất ở đã được cấp Giấy chứng nhận trước ngày 01/7/2004", P, 20, T, F, "land"),
    ("1.012818", "Thu hồi và cấp lại Giấy chứng nhận đã cấp lần đầu không đúng quy định", P, 20, T, F, "land"),
    ("1.013831", "Đăng ký biến động quyền sử dụng đất và quyền sở hữu tài sản gắn liền với đất", P, 10, T, T, "land"),
    ("1.013833", "Đăng ký biến động do đổi tên hoặc thay đổi thông tin về người sử dụng đất", P, 7, T, T, "land"),
    ("1.011441", "Đăng ký biện pháp bảo đảm bằng quyền sử dụng đất và tài sản gắn liền với đất", P, 1, T, T, "land"),
    ("1.011442", "Đăng ký thay đổi biện pháp bảo đảm bằng quyền sử dụng đất và tài sản gắn liền với đất", P, 1, T, T, "land"),
    ("1.011443", "Xóa đăng ký biện pháp bảo đảm bằng quyền sử dụng đất và tài sản gắn liền với đất", P, 1, F, T, "land"),
    # Công an cấp tỉnh: căn cước, lý lịch tư pháp, hộ chiếu, giấy phép lái xe
    ("2.000200", "Cấp thẻ căn cước cho người từ đủ 14 tuổi trở lên", P, 7, F, F, "security"),
    ("3.000333", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam và người nước ngoài đang cư trú tại Việt Nam", P, 10, T, T, "justice"),
    ("1.001456", "Cấp hộ chiếu phổ thông ở trong nước tại Công an cấp tỉnh", P, 8, T, T, "security"),
    ("3.000346", "Cấp giấy phép lái xe", P, 10, T, F, "transport"),
    ("3.000285", "Khóa căn cước điện tử", M, 1, F, T, "security"),
    ("3.000286", "Mở khóa căn cước điện tử", M, 1, F, T, "security"),
    # Doanh nghiệp, lao động
    ("2.001610", "Đăng ký thành lập doanh nghiệp tư nhân", P, 3, T, T, "business"),
    ("2.001955", "Đăng ký nội quy lao động", P, 7, F, T, "labour"),
    ("1.014199", "Cấp giấy phép lao động cho người lao động nước ngoài làm việc tại Việt Nam", P, 10, T, T, "labour"),
    ("1.014200", "Cấp lại giấy phép lao động cho người lao động nước ngoài làm việc tại Việt Nam", P, 5, T, T, "labour"),
    ("1.014201", "Gia hạn giấy phép lao động cho người lao động nước ngoài làm việc tại Việt Nam", P, 5, T, T, "labour"),
    ("1.014197", "Cấp lại giấy xác nhận người lao động nước ngoài không thuộc diện cấp giấy phép lao động", P, 3, F, T, "labour"),
    ("1.014198", "Gia hạn giấy xác nhận người lao động nước ngoài không thuộc diện cấp giấy phép lao động", P, 3, F, T, "labour"),
]

# --------------------------------------------------------------------------
# Illustrative rows: (name_vi, level, handling_days, fee, full_online, field)
# --------------------------------------------------------------------------
ILL = []


def add(level, field, rows):
    for name, days, fee, online in rows:
        ILL.append((name, level, days, fee, online, field))


def licence(level, field, obj, days, fee, online, verbs=("Cấp", "Cấp lại", "Gia hạn")):
    """Licence-style stem with its usual variants (cấp / cấp lại / gia hạn ...)."""
    short = {"Cấp": days, "Cấp lại": max(1, days // 2), "Gia hạn": max(1, days // 2),
             "Cấp đổi": max(1, days // 2), "Điều chỉnh": max(1, (days * 2) // 3),
             "Cấp sửa đổi bổ sung": max(1, (days * 2) // 3), "Thu hồi": max(1, days // 2)}
    for v in verbs:
        ILL.append((f"{v} {obj}", level, short[v], fee if v != "Thu hồi" else F,
                    online, field))


# ---- commune level -------------------------------------------------------
add(C, "civil_status", [
    ("Thay đổi cải chính bổ sung thông tin hộ tịch", 3, T, T),
    ("Xác định lại dân tộc", 3, T, F),
    ("Ghi vào Sổ hộ tịch việc thay đổi hộ tịch theo bản án hoặc quyết định của cơ quan có thẩm quyền", 3, F, F),
    ("Đăng ký nhận cha mẹ con có yếu tố nước ngoài", 15, T, F),
    ("Đăng ký khai tử có yếu tố nước ngoài", 3, T, F),
    ("Đăng ký chấm dứt giám hộ có yếu tố nước ngoài", 2, T, F),
    ("Ghi vào Sổ hộ tịch việc kết hôn của công dân Việt Nam đã được giải quyết tại cơ quan có thẩm quyền của nước ngoài", 5, T, F),
    ("Ghi vào Sổ hộ tịch việc ly hôn và hủy việc kết hôn đã được giải quyết ở nước ngoài", 5, T, F),
    ("Ghi vào Sổ hộ tịch việc khai sinh đã đăng ký tại cơ quan có thẩm quyền của nước ngoài", 5, T, F),
    ("Đăng ký lại khai sinh có yếu tố nước ngoài", 10, T, F),
    ("Liên thông đăng ký khai sinh đăng ký thường trú và cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi", 5, F, T),
    ("Liên thông đăng ký khai tử xóa đăng ký thường trú và giải quyết chế độ tử tuất", 10, F, T),
    ("Cấp bản sao trích lục hộ tịch điện tử", 1, T, T),
    ("Đăng ký kết hôn giữa công dân Việt Nam cư trú ở khu vực biên giới với công dân nước láng giềng", 5, T, F),
    ("Đăng ký nhận cha mẹ con tại khu vực biên giới", 5, T, F),
    ("Đăng ký khai tử cho người nước ngoài cư trú ở khu vực biên giới", 3, T, F),
])
add(C, "justice", [
    ("Chứng thực hợp đồng giao dịch liên quan đến tài sản là động sản", 2, T, F),
    ("Chứng thực hợp đồng giao dịch liên quan đến thực hiện quyền của người sử dụng đất", 2, T, F),
    ("Chứng thực văn bản thỏa thuận phân chia di sản", 2, T, F),
    ("Chứng thực văn bản khai nhận di sản", 2, T, F),
    ("Chứng thực di chúc", 2, T, F),
    ("Chứng thực hợp đồng mua bán nhà ở", 2, T, F),
    ("Chứng thực hợp đồng ủy quyền", 2, T, F),
    ("Chứng thực chữ ký trong giấy ủy quyền không có thù lao", 1, T, F),
    ("Chứng thực văn bản từ chối nhận di sản", 1, T, F),
    ("Chứng thực việc sửa đổi bổ sung hoặc hủy bỏ hợp đồng giao dịch", 2, T, F),
    ("Sửa lỗi sai sót trong hợp đồng giao dịch đã được chứng thực", 1, T, F),
    ("Cấp bản sao từ sổ gốc", 1, T, T),
    ("Chứng thực bản sao điện tử từ bản chính", 1, T, T),
    ("Thanh toán thù lao cho hòa giải viên", 5, F, T),
    ("Công nhận tuyên truyền viên pháp luật", 5, F, T),
    ("Cho thôi làm tuyên truyền viên pháp luật", 5, F, T),
])
add(C, "residence", [
    ("Điều chỉnh thông tin về cư trú trong Cơ sở dữ liệu về cư trú", 3, F, T),
    ("Xác nhận thông tin về cư trú", 1, F, T),
    ("Khai báo thông tin về cư trú đối với người chưa đủ điều kiện đăng ký thường trú hoặc tạm trú", 3, F, T),
])
add(C, "security", [
    ("Đăng ký tài khoản định danh điện tử mức độ 2 cho công dân Việt Nam", 3, F, F),
    ("Cấp đổi thẻ căn cước tại Công an cấp xã", 7, T, F),
    ("Cấp lại thẻ căn cước", 7, T, F),
    ("Cấp thẻ căn cước cho người dưới 14 tuổi tại Công an cấp xã", 7, F, F),
    ("Cấp Giấy chứng nhận đủ điều kiện về an ninh trật tự đối với cơ sở kinh doanh có điều kiện", 4, T, T),
])
add(C, "transport", [
    ("Đăng ký xe lần đầu tại Công an cấp xã", 2, T, T),
    ("Đăng ký sang tên xe trong cùng tỉnh tại Công an cấp xã", 2, T, T),
    ("Cấp đổi chứng nhận đăng ký xe và biển số xe tại Công an cấp xã", 3, T, T),
    ("Thu hồi chứng nhận đăng ký xe và biển số xe tại Công an cấp xã", 2, F, T),
    ("Cấp lại chứng nhận đăng ký xe tại Công an cấp xã", 3, T, T),
    ("Cấp giấy phép sử dụng tạm thời một phần lòng đường và hè phố", 5, T, T),
])
add(C, "business", [
    ("Đăng ký hoạt động tổ hợp tác", 3, F, T),
    ("Thông báo thay đổi hợp đồng hợp tác của tổ hợp tác", 3, F, T),
    ("Thông báo chấm dứt hoạt động của tổ hợp tác", 3, F, T),
    ("Đăng ký thành lập hợp tác xã", 3, T, T),
    ("Đăng ký thay đổi tên và địa chỉ trụ sở chính của hợp tác xã", 3, T, T),
    ("Tạm ngừng hoạt động hợp tác xã", 3, F, T),
    ("Giải thể tự nguyện hợp tác xã", 5, F, T),
    ("Cấp lại Giấy chứng nhận đăng ký hợp tác xã", 3, T, T),
    ("Đăng ký chi nhánh và văn phòng đại diện của hợp tác xã", 3, T, T),
    ("Thông báo thay đổi ngành nghề sản xuất kinh doanh của hợp tác xã", 3, F, T),
])
licence(C, "industry_trade", "giấy phép bán lẻ sản phẩm rượu", 10, T, T,
        ("Cấp", "Cấp lại", "Cấp sửa đổi bổ sung"))
licence(C, "industry_trade", "giấy phép bán lẻ sản phẩm thuốc lá", 10, T, T,
        ("Cấp", "Cấp lại", "Cấp sửa đổi bổ sung"))
add(C, "industry_trade", [
    ("Cấp giấy phép sản xuất rượu thủ công nhằm mục đích kinh doanh", 10, T, T),
    ("Đăng ký sản xuất rượu thủ công để bán cho doanh nghiệp có giấy phép sản xuất rượu", 7, F, T),
    ("Cấp Giấy chứng nhận đủ điều kiện kinh doanh cửa hàng bán lẻ LPG chai", 15, T, T),
])
add(C, "health", [
    ("Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm đối với cơ sở kinh doanh dịch vụ ăn uống", 15, T, T),
    ("Cấp lại Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm đối với cơ sở kinh doanh dịch vụ ăn uống", 7, T, T),
    ("Cấp Giấy xác nhận kiến thức về an toàn thực phẩm", 5, T, T),
    ("Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm đối với bếp ăn tập thể", 15, T, T),
])
add(C, "culture", [
    ("Cấp giấy phép kinh doanh dịch vụ karaoke", 5, T, T),
    ("Điều chỉnh giấy phép kinh doanh dịch vụ karaoke", 4, T, T),
    ("Thông báo tổ chức lễ hội cấp xã", 5, F, T),
    ("Đăng ký tổ chức lễ hội cấp xã", 7, F, T),
    ("Xét tặng danh hiệu Gia đình văn hóa hằng năm", 5, F, F),
    ("Xét tặng danh hiệu Thôn văn hóa và Tổ dân phố văn hóa", 10, F, F),
    ("Thông báo thành lập thư viện cộng đồng", 15, F, T),
    ("Thông báo tổ chức biểu diễn nghệ thuật", 5, F, T),
    ("Công nhận câu lạc bộ thể thao cơ sở", 7, F, T),
    ("Thông báo tổ chức giải thi đấu thể thao quần chúng cấp xã", 5, F, T),
    ("Cấp Giấy chứng nhận đủ điều kiện hoạt động điểm cung cấp dịch vụ trò chơi điện tử công cộng", 5, T, T),
])
add(C, "home_affairs", [
    ("Đăng ký hoạt động tín ngưỡng", 15, F, F),
    ("Đăng ký bổ sung hoạt động tín ngưỡng", 15, F, F),
    ("Thông báo tổ chức quyên góp trong địa bàn một xã của cơ sở tín ngưỡng", 5, F, T),
    ("Đăng ký sinh hoạt tôn giáo tập trung", 20, F, F),
    ("Thông báo danh mục hoạt động tôn giáo đối với tổ chức có địa bàn hoạt động ở một xã", 5, F, T),
    ("Thông báo sửa chữa cải tạo công trình tín ngưỡng không phải xin giấy phép xây dựng", 15, F, T),
    ("Tặng Giấy khen của Chủ tịch Ủy ban nhân dân cấp xã về thành tích thi đua theo chuyên đề", 20, F, F),
    ("Xét tặng danh hiệu Lao động tiên tiến", 20, F, F),
    ("Công nhận ban vận động thành lập hội có phạm vi hoạt động trong xã", 30, F, F),
    ("Phê duyệt điều lệ hội có phạm vi hoạt động trong xã", 30, F, F),
    ("Giải thể hội có phạm vi hoạt động trong xã", 15, F, F),
    ("Thông báo tổ chức quyên góp ngoài địa bàn một xã của cơ sở tín ngưỡng", 5, F, T),
    ("Xét tặng danh hiệu Chiến sĩ thi đua cơ sở", 20, F, F),
])
add(C, "defence", [
    ("Đăng ký nghĩa vụ quân sự lần đầu", 1, F, F),
    ("Đăng ký phục vụ trong ngạch dự bị", 1, F, F),
    ("Đăng ký di chuyển nghĩa vụ quân sự khi thay đổi nơi cư trú", 1, F, T),
    ("Đăng ký tạm vắng nghĩa vụ quân sự", 1, F, T),
    ("Đăng ký nghĩa vụ quân sự bổ sung", 1, F, T),
    ("Giải quyết chế độ ốm đau và tai nạn đối với dân quân", 10, F, F),
    ("Giải quyết chế độ ưu đãi đối với gia đình hạ sĩ quan và binh sĩ tại ngũ", 5, F, F),
])
add(C, "agriculture", [
    ("Hỗ trợ khôi phục sản xuất vùng bị thiệt hại do thiên tai", 10, F, F),
    ("Hỗ trợ khôi phục sản xuất vùng bị thiệt hại do dịch bệnh động vật", 10, F, F),
    ("Xác nhận bảng kê lâm sản", 3, F, T),
    ("Phê duyệt danh sách đối tượng được hỗ trợ bảo hiểm nông nghiệp", 5, F, F),
    ("Đăng ký nuôi trồng thủy sản lồng bè", 5, F, T),
    ("Kê khai hoạt động chăn nuôi", 1, F, T),
    ("Xác nhận kế hoạch khai thác gỗ rừng trồng của hộ gia đình", 5, F, T),
    ("Hỗ trợ chuyển đổi cơ cấu cây trồng trên đất trồng lúa", 10, F, F),
    ("Hỗ trợ đầu tư xây dựng phát triển thủy lợi nội đồng", 10, F, F),
    ("Cấp giấy xác nhận nguồn gốc giống cây trồng lâm nghiệp", 5, F, T),
])
add(C, "environment", [
    ("Đăng ký môi trường", 15, F, T),
    ("Tham vấn cộng đồng dân cư trong đánh giá tác động môi trường", 15, F, F),
    ("Đăng ký khai thác sử dụng nước mặt quy mô nhỏ", 10, F, T),
])
add(C, "education", [
    ("Cho phép trường tiểu học hoạt động giáo dục", 20, F, F),
    ("Thành lập trường mầm non công lập", 20, F, F),
    ("Sáp nhập hoặc chia tách trường mầm non", 20, F, F),
    ("Chuyển trường đối với học sinh trung học cơ sở", 3, F, T),
    ("Chuyển trường đối với học sinh tiểu học", 3, F, T),
    ("Xét cấp hỗ trợ học tập đối với trẻ mẫu giáo và học sinh dân tộc thiểu số rất ít người", 10, F, F),
    ("Xét miễn giảm học phí cho học sinh phổ thông", 10, F, T),
    ("Cho phép nhóm trẻ và lớp mẫu giáo độc lập hoạt động giáo dục", 20, F, F),
    ("Hỗ trợ ăn trưa đối với trẻ em mẫu giáo", 10, F, T),
    ("Tuyển sinh vào lớp một", 15, F, T),
    ("Xét duyệt học sinh bán trú được hưởng chính sách hỗ trợ", 10, F, F),
])
add(C, "social_welfare", [
    ("Trợ giúp xã hội khẩn cấp về hỗ trợ làm nhà ở và sửa chữa nhà ở", 10, F, F),
    ("Điều chỉnh và thôi hưởng trợ cấp xã hội hằng tháng", 7, F, T),
    ("Chi trả trợ cấp xã hội hằng tháng khi đối tượng thay đổi nơi cư trú", 10, F, T),
    ("Áp dụng biện pháp can thiệp khẩn cấp hoặc tạm thời cách ly trẻ em khỏi môi trường gây tổn hại", 1, F, F),
    ("Đăng ký nhận chăm sóc thay thế cho trẻ em đối với gia đình không phải là người thân thích", 15, F, F),
    ("Xác nhận hộ làm nông nghiệp lâm nghiệp ngư nghiệp có mức sống trung bình", 10, F, F),
    ("Trợ cấp xã hội hằng tháng đối với người cao tuổi", 15, F, T),
    ("Trợ cấp xã hội hằng tháng đối với người khuyết tật đặc biệt nặng", 15, F, T),
    ("Trợ cấp nuôi dưỡng trẻ em mồ côi tại cộng đồng", 15, F, F),
    ("Hỗ trợ chi phí điều trị cho người bị thương nặng do thiên tai", 5, F, F),
    ("Cấp thẻ bảo hiểm y tế cho người thuộc hộ nghèo và hộ cận nghèo", 5, F, T),
    ("Hỗ trợ người lao động thuộc hộ nghèo học nghề trình độ sơ cấp", 10, F, F),
])
add(C, "construction", [
    ("Cấp giấy phép xây dựng có thời hạn đối với nhà ở riêng lẻ", 15, T, T),
    ("Cấp giấy phép sửa chữa cải tạo nhà ở riêng lẻ", 15, T, T),
    ("Cấp giấy phép di dời nhà ở riêng lẻ", 15, T, F),
    ("Cấp giấy phép xây dựng công trình quảng cáo", 15, T, T),
    ("Thẩm định báo cáo kinh tế kỹ thuật đầu tư xây dựng sử dụng vốn ngân sách cấp xã", 20, T, F),
    ("Cung cấp thông tin về quy hoạch xây dựng thuộc thẩm quyền của Ủy ban nhân dân cấp xã", 15, F, T),
])
add(C, "land", [
    ("Giao đất và cho thuê đất đối với cá nhân không thông qua đấu giá quyền sử dụng đất", 20, T, F),
    ("Cho phép chuyển mục đích sử dụng đất đối với cá nhân", 15, T, T),
    ("Gia hạn sử dụng đất nông nghiệp của cá nhân khi hết thời hạn sử dụng đất", 7, T, T),
    ("Xác nhận đất đang sử dụng không có tranh chấp", 5, F, T),
    ("Đăng ký đất đai lần đầu đối với cá nhân đang sử dụng đất", 20, T, F),
    ("Thu hồi đất do người sử dụng đất tự nguyện trả lại đất", 15, F, F),
    ("Xác nhận hiện trạng sử dụng đất", 5, F, T),
])
add(C, "labour", [
    ("Xác nhận thông tin để người lao động đi làm việc ở nước ngoài theo hợp đồng", 3, F, T),
    ("Đăng ký hợp đồng lao động cho người làm việc tại tổ hợp tác", 3, F, T),
])

# ---- province level ------------------------------------------------------
add(P, "land", [
    ("Giao đất và cho thuê đất đối với tổ chức", 20, T, F),
    ("Cho phép chuyển mục đích sử dụng đất đối với tổ chức", 15, T, F),
    ("Gia hạn sử dụng đất đối với tổ chức", 7, T, T),
    ("Đăng ký biến động do chuyển nhượng quyền sử dụng đất", 10, T, T),
    ("Đăng ký biến động do thừa kế quyền sử dụng đất", 10, T, T),
    ("Đăng ký biến động do tặng cho quyền sử dụng đất", 10, T, T),
])
add(P, "construction", [
    ("Cấp giấy phép xây dựng mới đối với công trình cấp đặc biệt và cấp I cấp II", 20, T, T),
    ("Thẩm định báo cáo nghiên cứu khả thi đầu tư xây dựng", 25, T, F),
    ("Thẩm định thiết kế xây dựng triển khai sau thiết kế cơ sở", 30, T, F),
    ("Kiểm tra công tác nghiệm thu hoàn thành công trình xây dựng", 20, F, F),
    ("Cấp giấy phép di dời công trình", 20, T, F),
    ("Thông báo nhà ở hình thành trong tương lai đủ điều kiện được bán", 15, F, T),
    ("Công nhận chủ đầu tư dự án xây dựng nhà ở thương mại", 30, F, F),
])
licence(P, "construction", "chứng chỉ hành nghề hoạt động xây dựng hạng II và hạng III", 20, T, T,
        ("Cấp", "Cấp lại", "Gia hạn"))
licence(P, "construction", "chứng chỉ năng lực hoạt động xây dựng hạng II và hạng III", 20, T, T,
        ("Cấp", "Cấp lại", "Điều chỉnh"))
add(P, "business", [
    ("Đăng ký thành lập công ty trách nhiệm hữu hạn một thành viên", 3, T, T),
    ("Đăng ký thành lập công ty trách nhiệm hữu hạn hai thành viên trở lên", 3, T, T),
    ("Đăng ký thành lập công ty cổ phần", 3, T, T),
    ("Đăng ký thành lập công ty hợp danh", 3, T, T),
    ("Đăng ký thay đổi người đại diện theo pháp luật của công ty", 3, T, T),
    ("Đăng ký thay đổi vốn điều lệ của công ty", 3, T, T),
    ("Đăng ký thay đổi địa chỉ trụ sở chính của doanh nghiệp", 3, T, T),
    ("Thông báo thay đổi ngành nghề kinh doanh", 3, T, T),
    ("Đăng ký hoạt động chi nhánh và văn phòng đại diện", 3, T, T),
    ("Thông báo tạm ngừng kinh doanh của doanh nghiệp", 3, F, T),
    ("Giải thể doanh nghiệp", 5, F, T),
    ("Chuyển đổi công ty trách nhiệm hữu hạn thành công ty cổ phần", 3, T, T),
    ("Cấp lại Giấy chứng nhận đăng ký doanh nghiệp", 3, T, T),
    ("Hiệu đính thông tin đăng ký doanh nghiệp", 3, F, T),
    ("Cấp Giấy chứng nhận đăng ký đầu tư đối với dự án không thuộc diện chấp thuận chủ trương đầu tư", 15, F, T),
    ("Điều chỉnh Giấy chứng nhận đăng ký đầu tư", 10, F, T),
    ("Chấp thuận chủ trương đầu tư của Ủy ban nhân dân cấp tỉnh", 30, F, F),
])
add(P, "industry_trade", [
    ("Cấp Giấy chứng nhận cửa hàng đủ điều kiện bán lẻ xăng dầu", 15, T, T),
    ("Cấp giấy phép bán buôn sản phẩm rượu", 15, T, T),
    ("Cấp giấy phép bán buôn sản phẩm thuốc lá", 15, T, T),
    ("Đăng ký tổ chức hội chợ triển lãm thương mại", 7, F, T),
    ("Đăng ký thực hiện khuyến mại theo hình thức mang tính may rủi", 5, F, T),
    ("Cấp Giấy phép thành lập văn phòng đại diện của thương nhân nước ngoài tại Việt Nam", 7, T, T),
    ("Cấp Giấy chứng nhận đủ điều kiện sản xuất hóa chất thuộc danh mục hạn chế sản xuất kinh doanh", 12, T, T),
    ("Cấp Giấy phép kinh doanh cho tổ chức kinh tế có vốn đầu tư nước ngoài thực hiện hoạt động mua bán hàng hóa", 15, T, T),
    ("Cấp Giấy phép hoạt động điện lực trong lĩnh vực phân phối điện", 15, T, T),
])
licence(P, "health", "chứng chỉ hành nghề dược", 20, T, T, ("Cấp", "Cấp lại", "Điều chỉnh"))
add(P, "health", [
    ("Cấp Giấy chứng nhận đủ điều kiện kinh doanh dược đối với nhà thuốc", 20, T, T),
    ("Cấp giấy phép hoạt động đối với phòng khám chuyên khoa", 30, T, T),
    ("Cấp giấy phép hành nghề khám bệnh chữa bệnh đối với chức danh bác sĩ", 20, T, T),
    ("Gia hạn giấy phép hành nghề khám bệnh chữa bệnh", 20, T, T),
    ("Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm đối với cơ sở sản xuất thực phẩm", 20, T, T),
    ("Cấp giấy xác nhận nội dung quảng cáo mỹ phẩm", 10, T, T),
    ("Tiếp nhận phiếu công bố sản phẩm mỹ phẩm sản xuất trong nước", 3, T, T),
    ("Cấp Giấy chứng nhận đủ điều kiện xét nghiệm khẳng định các trường hợp HIV dương tính", 30, T, F),
])
add(P, "education", [
    ("Cấp phép hoạt động giáo dục kỹ năng sống và hoạt động giáo dục ngoài giờ chính khóa", 20, F, F),
    ("Cho phép trường trung học phổ thông hoạt động giáo dục", 20, F, F),
    ("Thành lập trung tâm ngoại ngữ và tin học", 20, F, F),
    ("Cấp giấy chứng nhận đăng ký hoạt động giáo dục nghề nghiệp", 10, F, T),
    ("Công nhận văn bằng tốt nghiệp các cấp học phổ thông do cơ sở nước ngoài cấp", 5, F, T),
    ("Chuyển trường đối với học sinh trung học phổ thông", 3, F, T),
    ("Cấp bản sao văn bằng chứng chỉ từ sổ gốc", 1, T, T),
    ("Phúc khảo bài thi tốt nghiệp trung học phổ thông", 15, F, T),
    ("Chỉnh sửa nội dung văn bằng chứng chỉ", 5, F, T),
])
add(P, "labour", [
    ("Giải quyết hưởng trợ cấp thất nghiệp", 20, F, T),
    ("Tạm dừng hưởng trợ cấp thất nghiệp", 3, F, T),
    ("Hỗ trợ học nghề cho người đang hưởng trợ cấp thất nghiệp", 20, F, F),
    ("Đăng ký hợp đồng nhận lao động thực tập dưới 90 ngày", 5, F, T),
    ("Khai báo sử dụng máy và thiết bị có yêu cầu nghiêm ngặt về an toàn lao động", 5, F, T),
    ("Cấp giấy xác nhận người lao động nước ngoài không thuộc diện cấp giấy phép lao động", 5, F, T),
])
licence(P, "labour", "giấy phép hoạt động dịch vụ việc làm của doanh nghiệp", 10, T, T,
        ("Cấp", "Cấp lại", "Gia hạn"))
add(P, "transport", [
    ("Đăng ký xe lần đầu tại Công an cấp tỉnh", 2, T, T),
    ("Đổi giấy phép lái xe do ngành Giao thông vận tải cấp", 5, T, T),
    ("Cấp lại giấy phép lái xe bị mất", 10, T, F),
    ("Cấp giấy phép lái xe quốc tế", 5, T, T),
    ("Cấp Giấy phép kinh doanh vận tải bằng xe ô tô", 5, T, T),
    ("Cấp phù hiệu cho xe ô tô kinh doanh vận tải", 2, F, T),
    ("Cấp giấy phép thi công công trình trên đường bộ đang khai thác", 7, F, T),
    ("Cấp Giấy phép xe tập lái", 1, F, T),
    ("Đăng ký phương tiện thủy nội địa lần đầu", 3, T, F),
    ("Cấp Giấy chứng nhận đăng ký tạm thời xe máy chuyên dùng", 1, T, F),
])
add(P, "justice", [
    ("Đăng ký hành nghề công chứng và cấp Thẻ công chứng viên", 10, T, T),
    ("Cấp lại Thẻ công chứng viên", 5, T, T),
    ("Thành lập Văn phòng công chứng", 20, T, F),
    ("Đăng ký hoạt động của tổ chức hành nghề luật sư", 10, T, T),
    ("Đăng ký hoạt động Văn phòng Thừa phát lại", 10, T, F),
    ("Yêu cầu trợ giúp pháp lý", 2, F, T),
    ("Đăng ký hoạt động của Trung tâm tư vấn pháp luật", 10, F, F),
    ("Cấp Phiếu lý lịch tư pháp theo yêu cầu của cơ quan tiến hành tố tụng", 10, F, F),
])
add(P, "security", [
    ("Cấp giấy chứng nhận căn cước cho người gốc Việt Nam chưa xác định được quốc tịch", 30, F, F),
    ("Gia hạn tạm trú cho người nước ngoài tại Việt Nam", 5, T, T),
    ("Cấp thẻ tạm trú cho người nước ngoài tại Việt Nam", 5, T, T),
    ("Cấp Giấy chứng nhận thẩm duyệt thiết kế về phòng cháy và chữa cháy", 15, T, T),
    ("Nghiệm thu về phòng cháy và chữa cháy", 10, F, F),
    ("Cấp giấy phép vận chuyển vật liệu nổ công nghiệp", 3, T, T),
])
add(P, "agriculture", [
    ("Cấp Giấy chứng nhận kiểm dịch động vật và sản phẩm động vật vận chuyển ra khỏi địa bàn cấp tỉnh", 1, T, T),
    ("Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm nông lâm thủy sản", 15, T, T),
    ("Cấp Giấy chứng nhận đủ điều kiện buôn bán thuốc bảo vệ thực vật", 20, T, T),
    ("Cấp Giấy chứng nhận đủ điều kiện buôn bán phân bón", 20, T, T),
    ("Cấp giấy phép khai thác thủy sản", 6, T, T),
    ("Cấp Giấy chứng nhận đăng ký tàu cá", 3, T, F),
    ("Cấp Giấy chứng nhận đủ điều kiện chăn nuôi đối với chăn nuôi trang trại quy mô lớn", 15, T, F),
    ("Công nhận làng nghề truyền thống", 30, F, F),
    ("Cấp mã số vùng trồng", 20, F, T),
])
add(P, "environment", [
    ("Cấp giấy phép môi trường thuộc thẩm quyền của Ủy ban nhân dân cấp tỉnh", 30, T, T),
    ("Cấp đổi giấy phép môi trường", 10, T, T),
    ("Thẩm định báo cáo đánh giá tác động môi trường", 30, T, F),
    ("Cấp giấy phép khai thác khoáng sản làm vật liệu xây dựng thông thường", 30, T, F),
    ("Cấp giấy phép khai thác sử dụng nước dưới đất", 30, T, F),
    ("Cấp giấy phép thăm dò nước dưới đất", 30, T, F),
])
add(P, "culture", [
    ("Cấp Giấy phép kinh doanh dịch vụ lữ hành nội địa", 10, T, T),
    ("Công nhận hạng cơ sở lưu trú du lịch từ 1 sao đến 3 sao", 30, T, F),
    ("Cấp thẻ hướng dẫn viên du lịch nội địa", 10, T, T),
    ("Cấp đổi thẻ hướng dẫn viên du lịch", 10, T, T),
    ("Cấp giấy phép tổ chức triển lãm do tổ chức ở địa phương đưa ra nước ngoài", 7, F, T),
    ("Cấp giấy phép nhập khẩu văn hóa phẩm không nhằm mục đích kinh doanh", 7, F, T),
])
add(P, "information", [
    ("Cấp giấy phép hoạt động in", 10, F, T),
    ("Xác nhận đăng ký hoạt động cơ sở in", 7, F, T),
    ("Cấp giấy phép xuất bản tài liệu không kinh doanh", 10, F, T),
    ("Cấp giấy phép thiết lập trang thông tin điện tử tổng hợp", 10, T, T),
    ("Cấp giấy phép xuất bản bản tin", 10, F, T),
])
add(P, "home_affairs", [
    ("Công nhận quỹ xã hội quỹ từ thiện đủ điều kiện hoạt động", 30, F, F),
    ("Cho phép thành lập hội có phạm vi hoạt động trong tỉnh", 30, F, F),
    ("Đăng ký thuyên chuyển chức sắc và chức việc", 20, F, F),
    ("Chấp thuận tổ chức cuộc lễ ngoài cơ sở tôn giáo", 20, F, F),
    ("Xét tặng Bằng khen của Chủ tịch Ủy ban nhân dân cấp tỉnh", 20, F, F),
    ("Tiếp nhận vào làm viên chức", 15, F, F),
])
add(P, "finance", [
    ("Cấp mã số đơn vị có quan hệ với ngân sách", 2, F, T),
    ("Quyết toán vốn đầu tư dự án hoàn thành sử dụng vốn ngân sách nhà nước", 30, F, F),
    ("Kê khai giá hàng hóa và dịch vụ", 1, F, T),
    ("Xác lập quyền sở hữu toàn dân đối với tài sản bị chôn giấu hoặc bị chìm đắm", 30, F, F),
])
add(P, "science_technology", [
    ("Đăng ký kết quả thực hiện nhiệm vụ khoa học và công nghệ không sử dụng ngân sách nhà nước", 15, F, T),
    ("Cấp Giấy chứng nhận đăng ký hoạt động khoa học và công nghệ", 15, T, T),
    ("Cấp giấy phép tiến hành công việc bức xạ sử dụng thiết bị X-quang chẩn đoán trong y tế", 15, T, T),
    ("Cấp Giấy chứng nhận doanh nghiệp khoa học và công nghệ", 7, F, T),
    ("Đăng ký công bố hợp quy đối với sản phẩm hàng hóa", 5, F, T),
])
add(P, "social_welfare", [
    ("Tiếp nhận đối tượng bảo trợ xã hội vào cơ sở trợ giúp xã hội", 10, F, F),
    ("Giải quyết chế độ đối với người hoạt động kháng chiến bị nhiễm chất độc hóa học", 30, F, F),
    ("Cấp Bằng Tổ quốc ghi công", 30, F, F),
    ("Giải quyết trợ cấp một lần đối với người có thành tích tham gia kháng chiến", 20, F, F),
])
add(P, "foreign_affairs", [
    ("Cho phép tổ chức hội nghị hội thảo quốc tế thuộc thẩm quyền của Ủy ban nhân dân cấp tỉnh", 15, F, F),
    ("Cử cán bộ công chức đi công tác nước ngoài", 10, F, F),
])

# ---- ministry level ------------------------------------------------------
add(M, "tax", [
    ("Đăng ký thuế lần đầu đối với người nộp thuế là tổ chức", 3, F, T),
    ("Đăng ký thuế lần đầu đối với người nộp thuế là cá nhân", 3, F, T),
    ("Thay đổi thông tin đăng ký thuế", 2, F, T),
    ("Khai quyết toán thuế thu nhập cá nhân đối với thu nhập từ tiền lương tiền công", 1, F, T),
    ("Hoàn thuế giá trị gia tăng đối với dự án đầu tư", 6, F, T),
    ("Hoàn thuế thu nhập cá nhân", 6, F, T),
    ("Đăng ký sử dụng hóa đơn điện tử", 1, F, T),
    ("Miễn giảm tiền thuê đất", 30, F, F),
    ("Gia hạn nộp thuế", 10, F, T),
    ("Xác nhận việc thực hiện nghĩa vụ thuế", 5, F, T),
    ("Đăng ký người phụ thuộc giảm trừ gia cảnh", 1, F, T),
    ("Khai lệ phí trước bạ nhà đất", 1, F, T),
    ("Khai thuế đối với cá nhân cho thuê tài sản", 1, F, T),
    ("Khôi phục mã số thuế", 3, F, T),
])
add(M, "customs", [
    ("Thủ tục hải quan đối với hàng hóa xuất khẩu thương mại", 1, T, T),
    ("Thủ tục hải quan đối với hàng hóa nhập khẩu thương mại", 1, T, T),
    ("Thủ tục hải quan đối với hàng hóa xuất khẩu và nhập khẩu tại chỗ", 1, T, T),
    ("Thủ tục hải quan đối với hàng hóa quá cảnh", 1, T, T),
    ("Xác định trước mã số hàng hóa xuất khẩu nhập khẩu", 30, F, T),
    ("Xác định trước xuất xứ hàng hóa nhập khẩu", 30, F, T),
    ("Hoàn thuế nhập khẩu đối với hàng hóa phải tái xuất", 6, F, T),
    ("Thông báo cơ sở gia công và sản xuất hàng hóa xuất khẩu", 2, F, T),
    ("Đăng ký tài khoản tham gia hệ thống thông quan điện tử", 1, F, T),
    ("Công nhận doanh nghiệp ưu tiên trong lĩnh vực hải quan", 30, F, F),
    ("Thủ tục hải quan đối với phương tiện vận tải xuất cảnh nhập cảnh qua cửa khẩu đường bộ", 1, F, F),
])
add(M, "security", [
    ("Cấp hộ chiếu phổ thông tại Cục Quản lý xuất nhập cảnh", 8, T, T),
    ("Cấp thị thực điện tử cho người nước ngoài", 3, T, T),
    ("Cấp thị thực cho người nước ngoài tại Cục Quản lý xuất nhập cảnh", 5, T, T),
    ("Khôi phục giá trị sử dụng hộ chiếu phổ thông", 5, T, T),
    ("Trình báo mất hộ chiếu phổ thông", 1, F, T),
    ("Cấp giấy miễn thị thực cho người Việt Nam định cư ở nước ngoài", 5, T, T),
    ("Đăng ký xe tại Cục Cảnh sát giao thông", 2, T, F),
    ("Cấp giấy phép xuất khẩu nhập khẩu vũ khí và công cụ hỗ trợ", 5, T, F),
])
add(M, "science_technology", [
    ("Đăng ký nhãn hiệu", 30, T, T),
    ("Gia hạn hiệu lực văn bằng bảo hộ nhãn hiệu", 20, T, T),
    ("Duy trì hiệu lực văn bằng bảo hộ sáng chế", 20, T, T),
    ("Cấp lại văn bằng bảo hộ đối tượng sở hữu công nghiệp", 30, T, T),
    ("Đăng ký hợp đồng chuyển quyền sử dụng đối tượng sở hữu công nghiệp", 30, T, T),
    ("Cấp Chứng chỉ hành nghề dịch vụ đại diện sở hữu công nghiệp", 15, T, F),
    ("Cấp chứng chỉ nhân viên bức xạ", 15, T, T),
])
add(M, "culture", [
    ("Cấp Giấy chứng nhận đăng ký quyền tác giả", 15, T, T),
    ("Cấp Giấy chứng nhận đăng ký quyền liên quan", 15, T, T),
    ("Xét tặng danh hiệu Nghệ nhân nhân dân và Nghệ nhân ưu tú", 30, F, F),
    ("Cấp giấy phép kinh doanh dịch vụ lữ hành quốc tế", 10, T, T),
])
add(M, "health", [
    ("Cấp giấy phép nhập khẩu thuốc chưa có giấy đăng ký lưu hành", 30, T, T),
    ("Cấp giấy xác nhận nội dung quảng cáo thuốc", 10, T, T),
    ("Cấp số tiếp nhận phiếu công bố sản phẩm mỹ phẩm nhập khẩu", 3, T, T),
    ("Cấp giấy chứng nhận sản phẩm dược phẩm để xuất khẩu", 10, T, T),
    ("Cấp giấy phép nhập khẩu trang thiết bị y tế", 15, T, T),
    ("Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm đối với cơ sở sản xuất thực phẩm bảo vệ sức khỏe", 15, T, T),
    ("Cấp giấy tiếp nhận đăng ký bản công bố sản phẩm thực phẩm bảo vệ sức khỏe nhập khẩu", 20, T, T),
    ("Đánh giá đáp ứng thực hành tốt sản xuất thuốc", 30, T, F),
])
add(M, "transport", [
    ("Kiểm tra chất lượng an toàn kỹ thuật và bảo vệ môi trường xe cơ giới nhập khẩu", 5, T, T),
    ("Thẩm định thiết kế xe cơ giới cải tạo", 5, T, T),
    ("Cấp giấy phép vận tải đường bộ quốc tế ASEAN", 3, F, T),
    ("Đăng ký tàu biển không thời hạn", 2, T, F),
    ("Cấp giấy phép vận tải đường bộ quốc tế Việt Nam và Lào", 3, F, T),
])
add(M, "labour", [
    ("Cấp giấy phép hoạt động dịch vụ đưa người lao động Việt Nam đi làm việc ở nước ngoài theo hợp đồng", 15, T, T),
    ("Đăng ký hợp đồng nhận lao động thực tập trên 90 ngày", 5, F, T),
    ("Cấp giấy chứng nhận đủ điều kiện hoạt động kiểm định kỹ thuật an toàn lao động", 20, T, F),
])
add(M, "education", [
    ("Công nhận văn bằng do cơ sở giáo dục nước ngoài cấp", 20, F, T),
    ("Cho phép thành lập phân hiệu của cơ sở giáo dục đại học", 30, F, F),
    ("Phê duyệt liên kết đào tạo với nước ngoài trình độ đại học", 30, F, F),
])
add(M, "foreign_affairs", [
    ("Chứng nhận lãnh sự giấy tờ tài liệu", 1, T, T),
    ("Hợp pháp hóa lãnh sự giấy tờ tài liệu", 1, T, T),
    ("Cấp hộ chiếu ngoại giao và hộ chiếu công vụ", 5, T, F),
    ("Cấp giấy đăng ký hoạt động cho tổ chức phi chính phủ nước ngoài", 30, F, F),
    ("Cấp công hàm đề nghị phía nước ngoài cấp thị thực", 3, F, F),
])
add(M, "information", [
    ("Cấp giấy phép cung cấp dịch vụ trò chơi điện tử G1 trên mạng", 30, T, T),
    ("Cấp giấy phép thiết lập mạng xã hội", 30, T, F),
    ("Cấp giấy phép hoạt động báo in", 30, T, F),
    ("Cấp giấy phép sử dụng tần số vô tuyến điện đối với đài vô tuyến điện nghiệp dư", 20, T, T),
    ("Cấp giấy phép cung cấp dịch vụ viễn thông có hạ tầng mạng", 30, T, F),
    ("Cấp giấy phép cung cấp dịch vụ chứng thực chữ ký số công cộng", 30, T, F),
])
add(M, "finance", [
    ("Cấp Giấy chứng nhận đủ điều kiện kinh doanh dịch vụ kế toán", 15, T, T),
    ("Cấp Giấy chứng nhận đủ điều kiện kinh doanh dịch vụ thẩm định giá", 15, T, T),
    ("Cấp giấy phép thành lập và hoạt động kinh doanh bảo hiểm", 30, T, F),
    ("Đăng ký chào bán cổ phiếu ra công chúng", 30, T, T),
    ("Cấp chứng chỉ hành nghề chứng khoán", 15, T, T),
])
add(M, "defence", [
    ("Cấp phép bay cho tàu bay không người lái và phương tiện bay siêu nhẹ", 7, F, T),
    ("Cấp giấy phép xuất khẩu nhập khẩu vật liệu nổ công nghiệp", 5, T, F),
])
add(M, "agriculture", [
    ("Cấp Giấy chứng nhận kiểm dịch thực vật xuất khẩu", 1, T, T),
    ("Đăng ký kiểm dịch động vật và sản phẩm động vật nhập khẩu", 1, T, T),
    ("Cấp giấy phép nhập khẩu giống cây trồng chưa có trong danh mục", 10, T, T),
])
add(M, "environment", [
    ("Cấp giấy phép môi trường thuộc thẩm quyền của Bộ Nông nghiệp và Môi trường", 30, T, F),
    ("Cấp giấy phép hoạt động dự báo cảnh báo khí tượng thủy văn", 15, T, F),
])
add(M, "industry_trade", [
    ("Cấp Giấy chứng nhận xuất xứ hàng hóa ưu đãi mẫu D", 1, F, T),
    ("Cấp Giấy chứng nhận xuất xứ hàng hóa ưu đãi mẫu E", 1, F, T),
    ("Cấp Giấy chứng nhận xuất xứ hàng hóa ưu đãi mẫu EUR.1", 1, F, T),
    ("Cấp giấy phép sản xuất rượu công nghiệp quy mô từ 3 triệu lít mỗi năm trở lên", 15, T, F),
    ("Đăng ký hợp đồng theo mẫu và điều kiện giao dịch chung", 30, F, T),
])
add(M, "home_affairs", [
    ("Cho phép thành lập hội có phạm vi hoạt động toàn quốc", 30, F, F),
    ("Đăng ký hoạt động tôn giáo cho tổ chức có địa bàn hoạt động ở nhiều tỉnh", 30, F, F),
    ("Công nhận tổ chức tôn giáo", 30, F, F),
])


def illustrative_codes(n, taken, rng):
    """Codes in 1.9xxxxx / 2.9xxxxx (outside every national code range we know)."""
    out = []
    while len(out) < n:
        code = f"{rng.choice('12')}.{rng.randint(900000, 999999):06d}"
        if code not in taken:
            taken.add(code)
            out.append(code)
    return out


def main():
    rows = []
    taken = set()
    for code, name, level, days, fee, online, field in REAL:
        assert code not in taken, code
        taken.add(code)
        rows.append((code, name, level, days, fee, online, field, True))

    real_names = {r[1] for r in rows}
    seen = set(real_names)
    ill = []
    for r in ILL:
        assert r[0] not in seen, f"duplicate name: {r[0]}"
        seen.add(r[0])
        ill.append(r)

    rng = random.Random(20240801)
    codes = illustrative_codes(len(ill), taken, rng)
    for code, (name, level, days, fee, online, field) in zip(codes, ill):
        rows.append((code, name, level, days, fee, online, field, False))

    rows.sort(key=lambda r: (r[0].split(".")[0], r[0]))
    b = lambda x: "true" if x else "false"
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["code", "name_vi", "level", "handling_days", "fee",
                    "full_online", "field", "real"])
        for code, name, level, days, fee, online, field, real in rows:
            w.writerow([code, name, level, days, b(fee), b(online), field, b(real)])
    print(f"wrote {len(rows)} rows to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
